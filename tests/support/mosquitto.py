"""A private Mosquitto per test session, configured like production (deploy/mosquitto/conf.d).

Tests get their own port and persistence directory, so parallel test runs never see each other's
messages and a test may stop and restart the broker. The broker itself is the console's own
(acuvim_console.core.local_broker), with production's autosave interval: a restart stops it with SIGTERM,
on which Mosquitto saves its database, so a restart test finds what it held without the broker
rewriting its whole queue every second under a benchmark's load.
"""

from pathlib import Path

from acuvim_console.core.local_broker import LocalMosquitto
from tests.support.ports import free_port, wait_for_port

__all__ = ["Mosquitto", "free_port", "wait_for_port"]


class Mosquitto(LocalMosquitto):
    """The console's broker on a free port, publishing its $SYS counters every `sys_interval_s` seconds."""

    def __init__(self, workdir: Path, port: int | None = None, sys_interval_s: int = 10):
        super().__init__(workdir=workdir, port=port or free_port())
        self.sys_interval_s = sys_interval_s

    def config_text(self) -> str:
        return super().config_text() + f"sys_interval {self.sys_interval_s}\n"
