"""TimescaleDB, where the server has it: hypertables instead of declarative partitions, native compression.

NOT EXECUTED ON THE DEVELOPMENT MACHINES: TimescaleDB is not installable there (no Debian or PyPI
package), so this branch is written against TimescaleDB 2.x's documented API and guarded by
`pg_available_extensions`; every test runs the plain PostgreSQL and SQLite branches. docs/deployment.md
lists the SQL below for whoever runs the docker compose image (timescale/timescaledb) to check it.

What it does, in migration 0005 and in each maintenance pass:
- the readings and both rollup tables become hypertables on their time column, chunked like the
  plain partitions (1 day, 7 days, 30 days); their primary keys contain the time column, as
  hypertables require, so idempotent ingest keeps working;
- readings are compressed after TELEMETRY_COMPRESS_AFTER_DAYS, segmented by device and ordered by
  time descending (one device's history decompresses from one segment);
- retention is `drop_chunks` per table, the same settings as on plain PostgreSQL.

Rollups are our own tables, maintained by telemetry.rollups on every database, rather than continuous
aggregates: a continuous aggregate cannot hold window functions, which the reset-proof energy per
bucket needs, and our receive-time watermark already refreshes exactly the buckets an SD back-fill
touches. The history queries therefore read the same tables everywhere. django-timescaledb is not
used for any of this (see README: its engine aborts migrate on plain PostgreSQL).
"""

from datetime import timedelta

from django.db import connection

EXTENSION = "timescaledb"


def available(schema_editor_connection=None) -> bool:
    """The server could load TimescaleDB (migration time: decides hypertables vs partitions)."""
    db = schema_editor_connection or connection
    if db.vendor != "postgresql":
        return False
    with db.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", [EXTENSION])
        return cursor.fetchone() is not None


def enabled() -> bool:
    """TimescaleDB is installed in this database and the readings table is a hypertable."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [EXTENSION])
        if cursor.fetchone() is None:
            return False
        cursor.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s",
            ["telemetry_telemetryrecord"],
        )
        return cursor.fetchone() is not None


def create_hypertables(schema_editor, models, schemes) -> None:
    """Migration 0005 on TimescaleDB: plain tables turned into hypertables, compression configured."""
    schema_editor.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
    for model in models:
        schema_editor.create_model(model)
        scheme = schemes[model.__name__]
        schema_editor.execute(
            "SELECT create_hypertable(%s, %s, chunk_time_interval => %s::interval)",
            [scheme.table, scheme.column, f"{scheme.span.days} days"],
        )
    readings = schemes["TelemetryRecord"].table
    schema_editor.execute(
        f"ALTER TABLE {readings} SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'device_id', timescaledb.compress_orderby = 'ts DESC')"
    )


def compress(table: str, older_than: timedelta) -> int:
    """Compress the table's chunks older than `older_than`; returns how many are compressed (new or not)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(compress_chunk(chunk, if_not_compressed => true)) "
            "FROM show_chunks(%s::regclass, older_than => %s::interval) AS chunk",
            [table, f"{int(older_than.total_seconds())} seconds"],
        )
        return cursor.fetchone()[0]


def drop_chunks(table: str, older_than: timedelta) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s::interval)",
            [table, f"{int(older_than.total_seconds())} seconds"],
        )
        return cursor.fetchone()[0]
