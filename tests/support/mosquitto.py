"""A private Mosquitto per test session, configured like production (deploy/mosquitto/conf.d).

Tests get their own port and persistence directory, so parallel test runs never see each other's
messages and a test may stop and restart the broker.
"""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONF_D = PROJECT_DIR / "deploy" / "mosquitto" / "conf.d"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Mosquitto:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "Mosquitto":
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / "mosquitto.conf"
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f"persistence true\npersistence_location {data}/\nautosave_interval 1\n"
            f"per_listener_settings false\nallow_anonymous true\n"
            f"listener {self.port} 127.0.0.1\n"
            f"log_dest file {self.workdir / 'mosquitto.log'}\n"
            f"include_dir {CONF_D}\n"
        )
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.process.kill()
            raise RuntimeError(f"mosquitto did not start: {self.process.stderr.read().decode(errors='replace')}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
