"""A Mosquitto child process configured from the project's broker config (deploy/mosquitto/conf.d).

The console's durability promise is made for Mosquitto with the queueing limits in conf.d, so whatever
runs a broker on this machine (runconsole's embedded broker, the test suite, benchmarks, `manage.py
broker`) starts it here and gets the same limits as docker-compose. Only what differs from
the container is written locally: where it listens, where it keeps its database and its log, and as
whom it runs.

Mosquitto started by root drops to the `mosquitto` user and then cannot write a persistence directory
that root created: it keeps running but persists nothing, silently. So the broker runs as the user who
started it (`user` is ignored for everyone else), and its files belong to that user like the rest of
DATA_DIR.
"""

import ctypes
import getpass
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONF_D = PROJECT_DIR / "deploy" / "mosquitto" / "conf.d"
DEBIAN_BINARY = Path("/usr/sbin/mosquitto")  # not on a non-root user's PATH on Debian
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def mosquitto_binary() -> str | None:
    """The installed `mosquitto` executable, or None when there is none."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return str(DEBIAN_BINARY) if DEBIAN_BINARY.exists() else None


def _libc_prctl():
    """Linux's prctl(), looked up once in the parent: the child between fork and exec should do no more than call it."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _libc_prctl()


def _die_with_parent() -> None:
    """In the child before exec: Linux sends it SIGTERM when the thread that started it dies.

    A console killed with SIGKILL would otherwise leave its broker running, holding the embedded port, and
    the next `make run` could not start. Elsewhere than Linux this does nothing.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = START_TIMEOUT_S, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port, host):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


@dataclass
class LocalMosquitto:
    """One Mosquitto listening on `host:port`, keeping its database, config and log in `workdir`."""

    workdir: Path
    port: int
    host: str = "127.0.0.1"
    autosave_interval_s: int = 30
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def config_text(self) -> str:
        return (
            "# Written by acuvim_console.core.local_broker at each start; edit deploy/mosquitto/ instead.\n"
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.data_dir}/\n"
            f"autosave_interval {self.autosave_interval_s}\n"
            "per_listener_settings false\n"
            f"{self.listener_text()}"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"include_dir {CONF_D}\n"
        )

    def listener_text(self) -> str:
        """Who may connect, and where: anyone, on `host:port` (acuvim_console.core.broker_files secures it)."""
        return f"allow_anonymous true\nlistener {self.port} {self.host}\n"

    def start(self, timeout: float = START_TIMEOUT_S) -> "LocalMosquitto":
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        if port_in_use(self.port, self.host):
            raise RuntimeError(f"{self.host}:{self.port} is in use (another broker, or a console still running?)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        # Errors from before the log file is open (a bad config, a port in use) go to stderr: into the log too.
        with self.log_path.open("ab") as early_errors:
            self.process = subprocess.Popen(
                [binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=early_errors,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while not port_in_use(self.port, self.host):
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start (code {self.process.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto does not listen on {self.host}:{self.port}: {self.log_tail()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Terminate (Mosquitto saves its database on SIGTERM) and wait; kill only if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "no output"
