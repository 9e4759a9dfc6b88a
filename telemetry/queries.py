"""Reading telemetry back: the latest record and bucketed history for charts.

History is averaged per time bucket inside the database so a month of 5-second readings comes back
as a few thousand points. PostgreSQL buckets with `date_bin` (14+, also on TimescaleDB); SQLite, used
by the embedded mode, buckets on the Unix epoch, which gives the same bucket edges for the same origin.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice

from django.db import connection, transaction
from django.db.models import Avg, Count, DateTimeField, Func, Q
from psycopg import sql

from telemetry.models import TelemetryRecord

QUANTITIES = ("frequency", "voltage_avg", "current_avg", "power_total", "power_factor")
# Readings beyond this magnitude are left out of averages: the database sums in float8, and two readings near
# the float maximum (finite, so the validator stores them) overflowed the sum, which made the history a 500.
# A million readings below it cannot overflow; no meter measures anything near it.
AVERAGE_LIMIT = 1e300
# Buckets are aligned to this instant, so the same range always gives the same bucket edges.
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class TimeBucket(Func):
    """The start of the `bucket_seconds`-long bucket holding an expression's timestamp."""

    output_field = DateTimeField()

    def __init__(self, expression, bucket_seconds: int):
        self.bucket_seconds = int(bucket_seconds)
        super().__init__(expression)

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        sql = f"date_bin(%s::interval, {column}, %s::timestamptz)"
        return sql, (f"{self.bucket_seconds} seconds", *params, BUCKET_ORIGIN)

    def as_sql(self, compiler, connection, **extra_context):
        # Portable path (SQLite): whole seconds since the origin, floored to the bucket, back to a datetime.
        column, params = compiler.compile(self.source_expressions[0])
        origin = int(BUCKET_ORIGIN.timestamp())
        sql = (
            f"strftime('%%Y-%%m-%%d %%H:%%M:%%S', "
            f"((CAST(strftime('%%s', {column}) AS INTEGER) - {origin}) / {self.bucket_seconds}) * {self.bucket_seconds}"
            f" + {origin}, 'unixepoch')"
        )
        return sql, params


def latest(device) -> TelemetryRecord | None:
    return TelemetryRecord.objects.filter(device=device).order_by("-ts").first()


def history(device, start: datetime, end: datetime, bucket_seconds: int) -> list[dict]:
    """Averages of the five chart quantities per bucket in [start, end), oldest first, empty buckets omitted.

    Each point also says how many readings it averages (`samples`), so a chart can show sparse buckets.
    """
    rows = (
        TelemetryRecord.objects.filter(device=device, ts__gte=start, ts__lt=end)
        .order_by()
        .annotate(t=TimeBucket("ts", bucket_seconds))
        .values("t")
        # COUNT(*), not COUNT(id): an index holding (device, ts) and the quantities can answer it alone.
        .annotate(samples=Count("*"), **{name: _bounded_average(name) for name in QUANTITIES})
        .order_by("t")
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A month of readings looks expensive to the planner, which then spends ~100 ms compiling
            # it with JIT for a query that runs in less; and with a little more memory than the default
            # it hashes the buckets instead of sorting every reading on disk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '32MB'")
        return [
            {"t": _aware(row["t"]), "samples": row["samples"], **{name: row[name] for name in QUANTITIES}}
            for row in rows
        ]


def _bounded_average(name: str) -> Avg:
    return Avg(name, filter=Q(**{f"{name}__range": (-AVERAGE_LIMIT, AVERAGE_LIMIT)}))


def _aware(value):
    if isinstance(value, str):  # SQLite returns the bucket as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- CSV export ------------------------------------------------------------------------------------
EXPORT_COLUMNS = ("ts", "ts_estimated", "received_at", "source", "connection", "seq", *QUANTITIES, "data")
EXPORT_BLOCK_BYTES = 64 * 1024
EXPORT_CHUNK_ROWS = 2000


def export_csv(device, start: datetime, end: datetime) -> Iterator[str | bytes]:
    """The device's readings in [start, end) as CSV text, header first, produced lazily block by block.

    On PostgreSQL the database writes the CSV itself (`COPY ... TO STDOUT`), which is an order of
    magnitude faster than formatting rows in Python; elsewhere rows come from a chunked iterator.
    Either way only one block is held in memory, whatever the number of rows.
    """
    if connection.vendor == "postgresql":
        return _export_with_copy(device, start, end)
    rows = (
        TelemetryRecord.objects.filter(device=device, ts__gte=start, ts__lt=end)
        .order_by("ts")
        .values_list(*EXPORT_COLUMNS)
        .iterator(chunk_size=EXPORT_CHUNK_ROWS)
    )
    return csv_chunks(list(EXPORT_COLUMNS), (_portable_row(row) for row in rows))


class _LineBuffer:
    """A file-like sink for csv.writer that hands back what was written."""

    def write(self, text: str) -> str:
        return text


def csv_chunks(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text, EXPORT_CHUNK_ROWS lines at a time, with the same line ending as PostgreSQL's COPY."""
    writer = csv.writer(_LineBuffer(), lineterminator="\n")
    yield writer.writerow(header)
    rows = iter(rows)
    while chunk := list(islice(rows, EXPORT_CHUNK_ROWS)):
        yield "".join(writer.writerow(row) for row in chunk)


def _portable_row(row: tuple) -> tuple:
    ts, estimated, received_at, *rest, data = row
    return (
        _iso(ts),
        "true" if estimated else "false",
        _iso(received_at),
        *rest,
        json.dumps(data, separators=(",", ":")),
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _export_with_copy(device, start: datetime, end: datetime) -> Iterator[bytes]:
    iso = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    columns = sql.SQL(", ").join(
        [
            sql.SQL(iso.format("ts")),
            sql.SQL("CASE WHEN ts_estimated THEN 'true' ELSE 'false' END"),
            sql.SQL(iso.format("received_at")),
            *(sql.Identifier(name) for name in ("source", "connection", "seq", *QUANTITIES)),
            sql.SQL("data::text"),
        ]
    )
    statement = sql.SQL(
        "COPY (SELECT {columns} FROM {table} WHERE device_id = {device} AND ts >= {start} AND ts < {end} "
        "ORDER BY ts) TO STDOUT WITH (FORMAT csv, HEADER false)"
    ).format(
        columns=columns,
        table=sql.Identifier(TelemetryRecord._meta.db_table),
        device=sql.Literal(device.pk),
        start=sql.Literal(start),
        end=sql.Literal(end),
    )
    yield (",".join(EXPORT_COLUMNS) + "\n").encode()
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        pending, size = [], 0
        for block in copy:
            pending.append(bytes(block))
            size += len(block)
            if size >= EXPORT_BLOCK_BYTES:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)
