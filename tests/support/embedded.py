"""The environment `make run` gives a process: none of the production services, everything in DATA_DIR."""

import os
from pathlib import Path

# Set in the test environment for the suite itself; the embedded mode must not see them.
PRODUCTION_SERVICES = ("DATABASE_URL", "REDIS_URL", "MQTT_URL", "DJANGO_SETTINGS_MODULE")


def embedded_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION_SERVICES}
    env.update(DATA_DIR=str(data_dir), **overrides)
    return env
