"""A private Mosquitto per test session, configured like production (deploy/mosquitto/conf.d).

Tests get their own port and persistence directory, so parallel test runs never see each other's
messages and a test may stop and restart the broker.

Run as root, Mosquitto would drop its privileges to the `mosquitto` user, which cannot reach pytest's
private temporary directories: it would then run without its log and, worse, without persistence,
so a restart would silently lose its queues. The test broker keeps root's privileges instead.
"""

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port, wait_for_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONF_D = PROJECT_DIR / "deploy" / "mosquitto" / "conf.d"


@dataclass
class Mosquitto:
    workdir: Path
    port: int = field(default_factory=free_port)
    sys_interval_s: int = 10  # how often the broker publishes its $SYS counters
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
            ("user root\n" if os.geteuid() == 0 else "")
            + f"persistence true\npersistence_location {data}/\nautosave_interval 1\n"
            f"per_listener_settings false\nallow_anonymous true\n"
            f"listener {self.port} 127.0.0.1\n"
            f"log_dest file {self.workdir / 'mosquitto.log'}\nsys_interval {self.sys_interval_s}\n"
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
