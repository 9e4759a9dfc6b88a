"""Migrations 0005 and 0008 on a database holding readings in the old layout: every reading survives.

Each test migrates a database of its own to an older telemetry migration in a subprocess (0004, with
the whole record as JSON beside five chart columns; 0007, with `seq` as bigint and source and link as
text), writes readings the way the code of then stored them, then migrates to the end.
"""

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEVICE = uuid.UUID("00000000-0000-4000-8000-000000000014")
FULL = {"ts": 1764000005, "seq": 4711, "src": "live", "conn": "wifi", "f": 50.01, "v1": 230.1, "in": 0.3,
        "thd_i3": 5.6, "ep_imp": 12345.6, "ub_i": 1.8}  # fmt: skip
# (ts, data, the old chart columns): a full record, one with a field the protocol lacks and a value
# beyond single precision, one whose quantities only the old chart columns held (written by the ORM).
LEGACY_ROWS = [
    ("2025-11-24 16:00:05+00", FULL, (50.01, None, None, None, None)),
    ("2026-11-24 16:00:10+00", {**FULL, "ts": 1764000010, "fw_note": "x", "pt": 1e39}, (50.0, None, None, None, None)),
    ("2026-11-24 16:00:15+00", {}, (49.9, 231.5, 10.0, 6000.0, 0.97)),
]
LEGACY_INSERT = (
    "INSERT INTO telemetry_telemetryrecord (device_id, ts, ts_estimated, received_at, source, connection, seq, "
    "frequency, voltage_avg, current_avg, power_total, power_factor, data) "
    "VALUES (%s, %s, false, %s, 'live', 'wifi', 1, %s, %s, %s, %s, %s, %s)"
)
NEW_SELECT_COLUMNS = ("ts", "f", "v1", "i_n", "thd_i3", "ep_imp", "vavg", "pt", "pft", "extra")
NEW_SELECT = f"SELECT {', '.join(NEW_SELECT_COLUMNS)} FROM telemetry_telemetryrecord ORDER BY ts"


# Every app to its newest migration, telemetry to an older one, without the post-migrate hooks (roles,
# periodic tasks), which expect the newest schema.
TO_AN_OLD_LAYOUT = """
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
executor = MigrationExecutor(connection)
targets = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "telemetry"]
executor.migrate([*targets, ("telemetry", {migration!r})])
"""


def manage(database_url: str, *arguments: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=PROJECT_DIR, env=env, check=True)


def migrate_to_the_old_layout(database_url: str, migration: str = "0004_telemetry_key_includes_chart_columns") -> None:
    manage(database_url, "shell", "-c", TO_AN_OLD_LAYOUT.format(migration=migration))


def migrate(database_url: str) -> None:
    manage(database_url, "migrate", "-v0")


def assert_every_reading_kept(rows) -> None:
    assert len(rows) == 3
    full, odd, chart_only = (dict(zip(NEW_SELECT_COLUMNS, row, strict=True)) for row in rows)
    assert [full[name] for name in ("f", "v1", "i_n", "thd_i3", "ep_imp")] == pytest.approx(
        [50.01, 230.1, 0.3, 5.6, 12345.6]
    )
    assert full["extra"] is None and full["vavg"] is None
    # A value beyond single precision is no meter reading; it is kept in extra with the unknown field.
    assert odd["f"] == pytest.approx(50.01) and odd["pt"] is None
    extra = odd["extra"] if isinstance(odd["extra"], dict) else json.loads(odd["extra"])
    assert extra == {"fw_note": "x", "pt": 1e39}
    assert [chart_only[name] for name in ("f", "vavg", "pt", "pft")] == pytest.approx([49.9, 231.5, 6000.0, 0.97])


@pytest.fixture
def postgresql_url(django_db_blocker):
    name = f"{connection.settings_dict['NAME']}_migration"
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x").rsplit("/", 1)[0]
    with django_db_blocker.unblock(), psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{server}/{name}"
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db
def test_postgresql_migration_keeps_every_reading_in_typed_columns_and_partitions(postgresql_url):
    migrate_to_the_old_layout(postgresql_url)
    with psycopg.connect(postgresql_url) as db:
        for ts, data, chart in LEGACY_ROWS:
            db.execute(LEGACY_INSERT, [DEVICE, ts, ts, *chart, json.dumps(data)])
    migrate(postgresql_url)
    with psycopg.connect(postgresql_url) as db:
        assert_every_reading_kept(db.execute(NEW_SELECT).fetchall())
        holders = db.execute("SELECT DISTINCT tableoid::regclass::text FROM telemetry_telemetryrecord").fetchall()
    # Partitions were created for the days the old readings fall on, a year back and more included.
    assert {holder for (holder,) in holders} == {
        "telemetry_telemetryrecord_p20251124",
        "telemetry_telemetryrecord_p20261124",
    }


def test_sqlite_migration_keeps_every_reading(tmp_path):
    path = tmp_path / "embedded.sqlite3"
    url = f"sqlite:///{path}"
    migrate_to_the_old_layout(url)
    with sqlite3.connect(path) as db:
        for ts, data, chart in LEGACY_ROWS:
            stamp = ts.replace("+00", "")
            db.execute(LEGACY_INSERT.replace("%s", "?"), [DEVICE.hex, stamp, stamp, *chart, json.dumps(data)])
    migrate(url)
    with sqlite3.connect(path) as db:
        assert_every_reading_kept(db.execute(NEW_SELECT).fetchall())


# Readings as 0007 stored them (seq bigint, source and link as words) and a rollup row of each table.
READINGS_0007 = [
    ("2026-11-24 16:00:05+00", 4711, "live", "wifi", None),
    ("2026-11-24 16:00:10+00", 2**40, "sd", "gsm", '{"note": "x"}'),  # a seq beyond integer
    ("2026-11-24 16:00:15+00", None, "sd", "", None),
]
INSERT_0007 = (
    "INSERT INTO telemetry_telemetryrecord (device_id, ts, received_at, seq, ts_estimated, source, connection, "
    "v1, ep_imp, extra) VALUES (%s, %s, %s, %s, false, %s, %s, 230.1, 12345.6, %s)"
)
ROLLUP_0007 = (
    "INSERT INTO {table} (device_id, bucket, samples, v1_avg, ep_imp_last, ep_imp_energy) "
    "VALUES (%s, '2026-11-24 16:00+00', 60, 230.5, 12345.6, 0.4)"
)
ROLLUP_TABLES = ("telemetry_fiveminuterollup", "telemetry_hourlyrollup")
# The readings' day gets its partitions, as a running console's maintenance pass would have made them.
WITH_THE_DAYS_PARTITIONS = """
from datetime import UTC, datetime, timedelta
from telemetry import partitions
day = datetime(2026, 11, 24, tzinfo=UTC)
for scheme in partitions.schemes().values():
    partitions.ensure_partitions(scheme, day, day + timedelta(days=1))
"""


@pytest.mark.django_db
def test_postgresql_rebuild_keeps_every_reading_and_rollup_row_in_the_narrower_layout(postgresql_url):
    migrate_to_the_old_layout(postgresql_url, "0007_rollups_keep_only_last_of_counters")
    manage(postgresql_url, "shell", "-c", WITH_THE_DAYS_PARTITIONS)
    with psycopg.connect(postgresql_url) as db:
        for ts, seq, source, link, extra in READINGS_0007:
            db.execute(INSERT_0007, [DEVICE, ts, ts, seq, source, link, extra])
        for table in ROLLUP_TABLES:
            db.execute(ROLLUP_0007.format(table=table), [DEVICE])
    migrate(postgresql_url)
    with psycopg.connect(postgresql_url) as db:
        readings = db.execute(
            "SELECT seq, source, connection, v1, ep_imp, extra::text FROM telemetry_telemetryrecord ORDER BY ts"
        ).fetchall()
        rollups = [
            db.execute(f"SELECT samples, v1_avg, ep_imp_last, ep_imp_energy FROM {table}").fetchall()
            for table in ROLLUP_TABLES
        ]
        types = dict(db.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'telemetry_telemetryrecord'::regclass AND attname IN ('seq', 'source', 'connection')"
        ).fetchall())  # fmt: skip
        holders = db.execute(
            "SELECT DISTINCT tableoid::regclass::text FROM telemetry_telemetryrecord UNION ALL "
            "SELECT DISTINCT tableoid::regclass::text FROM telemetry_hourlyrollup"
        ).fetchall()
        (dropped,) = db.execute(
            "SELECT count(*) FROM pg_attribute JOIN pg_inherits ON inhrelid = attrelid OR inhparent = attrelid "
            "WHERE attisdropped"
        ).fetchone()
    assert [row[:3] for row in readings] == [(4711, "l", "w"), (None, "s", "g"), (None, "s", "")]
    assert all(row[3:5] == pytest.approx((230.1, 12345.6)) for row in readings)
    # The seq no integer holds is kept where as_record finds it, beside the fields the protocol lacks.
    assert [json.loads(row[5]) if row[5] else None for row in readings] == [None, {"note": "x", "seq": 2**40}, None]
    assert rollups == [[(60, pytest.approx(230.5), 12345.6, 0.4)]] * 2
    assert types == {"seq": "integer", "source": '"char"', "connection": '"char"'}
    assert dropped == 0  # 0007's columns are gone from the rebuilt tables and their partitions
    # The rebuilt tables have the partitions the old ones had, and the rows are back in them.
    assert sorted(holder for (holder,) in holders) == ["telemetry_hourlyrollup_p20261110",
                                                       "telemetry_telemetryrecord_p20261124"]  # fmt: skip
