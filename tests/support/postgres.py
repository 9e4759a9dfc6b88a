"""A private PostgreSQL cluster that a test may stop and start: database outages for real, not simulated.

The shared server on 5432 must never go down under other people's tests, so outage tests get a cluster
of their own from `initdb`, on a free port with its socket in a private directory. PostgreSQL refuses to
run as root, so when the tests run as root the cluster belongs to the `postgres` user (its data directory,
socket directory and log included) and its tools run through `runuser`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.support.ports import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
SERVER_USER = "postgres"


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name))
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    return versions[-1]


@dataclass
class PostgresCluster:
    port: int = field(default_factory=free_port)
    root: Path | None = None

    def __post_init__(self):
        # Outside pytest's temporary tree: the server user must be able to reach its directories.
        self.root = Path(tempfile.mkdtemp(prefix="acuvim-pg-"))
        self.data, self.sockets, self.log = self.root / "data", self.root / "sockets", self.root / "server.log"
        self.sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVER_USER)
            shutil.chown(self.sockets, SERVER_USER)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(_bin_dir() / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr or result.stdout}\n{log}")

    def create(self) -> "PostgresCluster":
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> "PostgresCluster":
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash (recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_migrated_database(self, name: str) -> str:
        """A new database with the console's schema, migrated the way a deployment does it; returns its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
        env["DATABASE_URL"] = self.url(name)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=PROJECT_DIR,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self.url(name)
