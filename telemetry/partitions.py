"""Time partitions of the telemetry tables on plain PostgreSQL: created ahead, dropped whole at retention.

Each table (readings, 5-minute and hourly rollups) is `PARTITION BY RANGE` on its time column, with
partitions of a fixed span counted from BUCKET_ORIGIN (days for readings, weeks and 30-day spans for
the rollups) named `<table>_pYYYYMMDD` after their first day. A DEFAULT partition takes whatever falls
outside them (a device clock years off, a test's old timestamps), so an insert never fails for want of
a partition; when a partition is created for a range the default already holds rows of, those rows
move into it first. Retention drops every partition whose whole span is older than the cutoff (one
DROP TABLE, no row-by-row DELETE) and deletes the default partition's stragglers older than that.
A partition whose day is over gets its key index rebuilt once (compact_closed_partitions).

All DDL here is built from table names the models define and timestamps this module computes.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_PARTITION_NAME = re.compile(r"_p(\d{8})$")


@dataclass(frozen=True, slots=True)
class PartitionScheme:
    table: str
    column: str
    span: timedelta

    @property
    def default_partition(self) -> str:
        return f"{self.table}_default"

    def partition_start(self, moment: datetime) -> datetime:
        spans = (moment - BUCKET_ORIGIN) // self.span
        return BUCKET_ORIGIN + spans * self.span

    def partition_name(self, start: datetime) -> str:
        return f"{self.table}_p{start:%Y%m%d}"


def create_partitioned_table(schema_editor, model, scheme: PartitionScheme) -> None:
    """Create `model`'s table partitioned by `scheme`, with its default partition and its indexes.

    Columns are laid out widest alignment first (8-byte, then 4-byte, then the rest), which leaves no
    padding between them: a few bytes on every one of millions of rows. Used by migration 0005 with the
    models as they were then.
    """
    quote = schema_editor.quote_name
    columns = []
    for field in model._meta.local_concrete_fields:
        definition, _ = schema_editor.column_sql(model, field, include_default=False)
        if definition is not None:
            columns.append((_alignment_rank(definition), quote(field.column), definition))
    key = ", ".join(quote(model._meta.get_field(name).column) for name in model._meta.pk.field_names)
    body = ", ".join(f"{name} {definition}" for _, name, definition in sorted(columns, key=lambda c: c[0]))
    schema_editor.execute(
        f"CREATE TABLE {quote(scheme.table)} ({body}, PRIMARY KEY ({key})) PARTITION BY RANGE ({quote(scheme.column)})"
    )
    schema_editor.execute(f"CREATE TABLE {quote(scheme.default_partition)} PARTITION OF {quote(scheme.table)} DEFAULT")
    schema_editor.deferred_sql.extend(schema_editor._model_indexes_sql(model))


_EIGHT_BYTE_TYPES = ("timestamp", "bigint", "double precision")
_FOUR_BYTE_TYPES = ("real", "integer")


def _alignment_rank(definition: str) -> int:
    if definition.startswith(_EIGHT_BYTE_TYPES):
        return 0
    if definition.startswith(_FOUR_BYTE_TYPES):
        return 1
    return 2 if definition.startswith("uuid") else 3


def existing_partitions(scheme: PartitionScheme) -> dict[datetime, str]:
    """The table's span partitions by start (the default partition is not among them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = %s::regclass",
            [scheme.table],
        )
        names = [name for (name,) in cursor.fetchall()]
    return {start: name for name in names if (start := start_from_name(name)) is not None}


def start_from_name(name: str) -> datetime | None:
    """The first day of a span partition, from its name; None for the default partition."""
    match = _PARTITION_NAME.search(name)
    return datetime.strptime(match[1], "%Y%m%d").replace(tzinfo=UTC) if match else None


def ensure_partitions(scheme: PartitionScheme, start: datetime, end: datetime) -> list[str]:
    """Partitions covering [start, end) that did not exist yet are created; returns their names."""
    existing = existing_partitions(scheme)
    created = []
    moment = scheme.partition_start(start)
    while moment < end:
        if moment not in existing:
            _create_partition(scheme, moment)
            created.append(scheme.partition_name(moment))
        moment += scheme.span
    return created


def _create_partition(scheme: PartitionScheme, start: datetime) -> None:
    name, end = scheme.partition_name(start), start + scheme.span
    table, default, column = _quote(scheme.table), _quote(scheme.default_partition), _quote(scheme.column)
    in_range = f"{column} >= {_literal(start)} AND {column} < {_literal(end)}"
    bounds = f"FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {in_range})")  # noqa: S608
        (strays,) = cursor.fetchone()
        if not strays:
            cursor.execute(f"CREATE TABLE {_quote(name)} PARTITION OF {table} {bounds}")
            return
        # Rows that waited in the default partition move into the new one, which is then attached.
        cursor.execute(f"CREATE TABLE {_quote(name)} (LIKE {table} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE {in_range} RETURNING *) "  # noqa: S608
            f"INSERT INTO {_quote(name)} SELECT * FROM moved"
        )
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {_quote(name)} {bounds}")


def drop_partitions_before(scheme: PartitionScheme, cutoff: datetime) -> tuple[list[str], int]:
    """Drop the partitions lying wholly before `cutoff`, delete older default-partition rows.

    Returns the dropped partitions' names and the number of default-partition rows deleted.
    """
    dropped = []
    for start, name in sorted(existing_partitions(scheme).items()):
        if start + scheme.span <= cutoff:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE {_quote(name)}")
            dropped.append(name)
    column = _quote(scheme.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_quote(scheme.default_partition)} WHERE {column} < %s",  # noqa: S608
            [cutoff],
        )
        strays = cursor.rowcount
    return dropped, strays


COMPACTED = "compacted by telemetry maintenance"


def compact_closed_partitions(scheme: PartitionScheme, closed_before: datetime, cluster: bool = False) -> list[str]:
    """Compact each partition holding rows that ended before `closed_before`, once; returns their names.

    Readings arrive device by device in time order, so the (device, ts) key's pages split half-full and
    stay so: ~70 bytes per reading where a rebuilt index needs ~40. Once a partition's day is over only
    SD replays still add to it, so rebuilding its key once gives the difference back for good (REINDEX
    CONCURRENTLY: inserts continue meanwhile). With `cluster` (the rollups), the table is rewritten in
    key order instead (CLUSTER, which rebuilds the key too): a device's buckets, written an hour at a time
    beside every other device's, then share a few pages, and a year's history reads ~1,000 pages instead
    of 8,760. CLUSTER locks the partition while it runs; only late back-fills write to a closed one.
    Either way the key is rebuilt with its pages packed full (fillfactor 100, ~4 bytes per reading less
    than B-tree's default 90 %): a closed partition's later inserts are few. The partition's comment
    records that it is done.
    """
    done = []
    for start, name in sorted(existing_partitions(scheme).items()):
        if start + scheme.span > closed_before:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT obj_description(%s::regclass, 'pg_class'), EXISTS (SELECT 1 FROM {_quote(name)})",  # noqa: S608
                [name],
            )
            comment, holds_rows = cursor.fetchone()
            if comment == COMPACTED or not holds_rows:  # an empty span (created for late replays) waits for rows
                continue
            cursor.execute(
                "SELECT index.relname FROM pg_index JOIN pg_class AS index ON index.oid = pg_index.indexrelid "
                "WHERE pg_index.indrelid = %s::regclass AND pg_index.indisprimary",
                [name],
            )
            for (index,) in cursor.fetchall():
                # Packed full: only late back-fills still insert into a closed partition (B-tree default: 90 %).
                cursor.execute(f"ALTER INDEX {_quote(index)} SET (fillfactor = 100)")
                if cluster:
                    cursor.execute(f"CLUSTER {_quote(name)} USING {_quote(index)}")
                else:
                    # CONCURRENTLY cannot run inside a transaction block (tests, a caller's atomic()).
                    concurrently = "" if connection.in_atomic_block else " CONCURRENTLY"
                    cursor.execute(f"REINDEX INDEX{concurrently} {_quote(index)}")
            cursor.execute(f"COMMENT ON TABLE {_quote(name)} IS '{COMPACTED}'")
        done.append(name)
    return done


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _literal(moment: datetime) -> str:
    return f"'{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def _scheme(model, column: str, days: int) -> PartitionScheme:
    return PartitionScheme(model._meta.db_table, column, timedelta(days=days))


def schemes() -> dict[str, PartitionScheme]:
    """The partitioned tables by model name: readings by day, 5-minute rollups by week, hourly by 30 days."""
    from telemetry.models import FiveMinuteRollup, HourlyRollup, TelemetryRecord

    return {
        "TelemetryRecord": _scheme(TelemetryRecord, "ts", 1),
        "FiveMinuteRollup": _scheme(FiveMinuteRollup, "bucket", 7),
        "HourlyRollup": _scheme(HourlyRollup, "bucket", 30),
    }
