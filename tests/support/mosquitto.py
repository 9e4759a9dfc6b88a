"""A private Mosquitto per test session, configured like production (deploy/mosquitto/conf.d).

Tests get their own port and persistence directory, so parallel test runs never see each other's
messages and a test may stop and restart the broker. The broker itself is the console's own
(acuvim_console.mqtt.local_broker), with production's autosave interval: a restart stops it with SIGTERM,
on which Mosquitto saves its database, so a restart test finds what it held without the broker
rewriting its whole queue every second under a benchmark's load.
"""

import socket
from pathlib import Path

from acuvim_console.mqtt.local_broker import LocalMosquitto, wait_for_port

__all__ = ["Mosquitto", "free_port", "wait_for_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mosquitto(LocalMosquitto):
    def __init__(self, workdir: Path, port: int | None = None):
        super().__init__(workdir=workdir, port=port or free_port())
