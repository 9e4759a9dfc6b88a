"""Ports for the services a test starts itself (Mosquitto, PostgreSQL, Redis, web servers).

By default the operating system picks a free port. On a machine shared by several engineers, each
running the suite, `TEST_PORTS=26000-26999` keeps one run's services inside its own range.
"""

import os
import random
import socket
import time


def _port_range() -> range | None:
    spec = os.environ.get("TEST_PORTS", "")
    if not spec:
        return None
    low, _, high = spec.partition("-")
    return range(int(low), int(high or low) + 1)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    allowed = _port_range()
    if allowed is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for port in random.sample(allowed, len(allowed)):
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port left in TEST_PORTS={os.environ['TEST_PORTS']}")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")
