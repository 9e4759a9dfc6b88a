"""`manage.py mqtt_bridge` as its own process: what production runs, and what a test can SIGKILL."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def session_database_url() -> str:
    """The URL of the database this test session uses (pytest-django's test database)."""
    database = settings.DATABASES["default"]
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


class BridgeProcess:
    """One bridge process; its log goes to `log_path` so a failing test can show what the bridge said."""

    def __init__(
        self,
        mqtt_url: str,
        client_id: str,
        log_path: Path,
        database_url: str | None = None,
        args: tuple[str, ...] = (),
        **env: str,
    ):
        self.client_id = client_id
        self.log_path = log_path
        environment = {
            key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")
        }
        environment.update(
            DATABASE_URL=database_url or session_database_url(),
            MQTT_URL=mqtt_url,
            MQTT_CLIENT_ID=client_id,
            MQTT_METRICS_INTERVAL_S="0",
            MQTT_RECONNECT_MIN_S="1",
            MQTT_RECONNECT_MAX_S="2",
            LOG_LEVEL="INFO",
            **env,
        )
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "mqtt_bridge", *args],
                cwd=PROJECT_DIR,
                env=environment,
                stdout=log,
                stderr=log,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (finish, acknowledge, disconnect), SIGKILL if that takes too long."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
