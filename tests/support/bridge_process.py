"""`manage.py mqtt_bridge` as its own process against the test database, the way production runs it."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def start_bridge_process(mqtt_url: str, client_id: str, **extra_env: str) -> subprocess.Popen:
    """A bridge on the test database and `mqtt_url`; without REDIS_URL in `extra_env` it publishes no live events."""
    database = settings.DATABASES["default"]
    env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    env.update(
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        MQTT_URL=mqtt_url,
        MQTT_CLIENT_ID=client_id,
        MQTT_METRICS_INTERVAL_S="0",
        LOG_LEVEL="WARNING",
        **extra_env,
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "mqtt_bridge"], cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL
    )


def stop_bridge_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM (the bridge finishes its batch and disconnects), then SIGKILL if it does not end in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
