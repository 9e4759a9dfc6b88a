"""Embedded mode's SQLite: threads that read then write wait their turn instead of being turned away.

Runs in a child process with the embedded settings as `make run` gets them (no DATABASE_URL), because the
suite itself is on PostgreSQL.
"""

import subprocess
import sys
from pathlib import Path

from tests.support.embedded import embedded_env

PROJECT_DIR = Path(__file__).resolve().parents[1]
THREADS, ROUNDS = 4, 100

# Each round is what the bridge's workers do: read a row, then write what follows from it, atomically.
CONTENDED_WRITERS = f"""
import threading
import django
django.setup()
from django.db import OperationalError, connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE counter (n INTEGER)")
    cursor.execute("INSERT INTO counter VALUES (0)")
errors = []

def rounds():
    for _ in range({ROUNDS}):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT n FROM counter")
                cursor.execute("UPDATE counter SET n = %s", [cursor.fetchone()[0] + 1])
        except OperationalError as error:
            errors.append(str(error))
    connection.close()

threads = [threading.Thread(target=rounds) for _ in range({THREADS})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT n FROM counter")
    print(cursor.fetchone()[0], len(errors), sorted(set(errors)))
"""


def test_concurrent_read_then_write_transactions_on_sqlite_all_commit_without_database_is_locked(tmp_path):
    env = embedded_env(tmp_path, DJANGO_SETTINGS_MODULE="acuvim_console.settings", PYTHONPATH=str(PROJECT_DIR))
    result = subprocess.run(
        [sys.executable, "-c", CONTENDED_WRITERS], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    committed, failed, reasons = result.stdout.split(maxsplit=2)
    assert (int(committed), int(failed)) == (THREADS * ROUNDS, 0), reasons
