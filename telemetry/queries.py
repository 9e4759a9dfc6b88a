"""Reading telemetry back: the latest reading, history of any quantity, energy per period, CSV.

History is aggregated per time bucket inside the database, from whichever table covers the request
most cheaply: the hourly rollup when the bucket is a whole number of hours, the 5-minute rollup when
it is a whole number of 5 minutes, the raw readings otherwise, so a year at 12-hour buckets costs
about what a day at 5-minute buckets does. Rollups lag the readings by up to one maintenance pass, so
buckets from the rollup watermark on are computed from the raw readings, as TimescaleDB's real-time
aggregates do. With a rollup as the source, bucket edges are those of the rollup's buckets.
"""

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import count, islice

import orjson
from django.db import connection, models, transaction
from psycopg import sql

from acuvim_console.protocol.quantities import (
    BY_FIELD,
    COUNTERS,
    ENERGY_KEYS,
    LEGACY_CHART_NAMES,
    QUANTITIES,
    Aggregate,
    Quantity,
)
from telemetry.fields import ByteCodeField
from telemetry.models import (
    FiveMinuteRollup,
    HourlyRollup,
    Rollup,
    RollupWatermark,
    TelemetryRecord,
    energy_column,
    rollup_column,
)
from telemetry.rollups import WATERMARK, combine_sql
from telemetry.timebuckets import BUCKET_ORIGIN, TimeBucket, as_aware, bucket_sql, month_sql

__all__ = ["BUCKET_ORIGIN", "TimeBucket"]

# Coarsest first: the first whose bucket divides the requested one serves the request.
ROLLUPS: tuple[type[Rollup], ...] = (HourlyRollup, FiveMinuteRollup)
RAW = "raw"


def latest(device) -> TelemetryRecord | None:
    return TelemetryRecord.objects.filter(device=device).order_by("-ts").first()


# The fleet's message rate counts readings by device time over this window: the ts index answers it, and
# an SD replay of old data does not count as traffic now.
RATE_WINDOW = timedelta(minutes=5)


def messages_per_minute(now: datetime) -> float:
    """Telemetry records per minute over the last RATE_WINDOW: the dashboard's and the live counters' rate."""
    count = TelemetryRecord.objects.filter(ts__gt=now - RATE_WINDOW, ts__lte=now).count()
    return round(count / (RATE_WINDOW.total_seconds() / 60), 2)


def source_for(bucket_seconds: int) -> type[Rollup] | None:
    """The coarsest rollup a history at this bucket reads, or None for the raw readings only."""
    return next((model for model in ROLLUPS if bucket_seconds % model.BUCKET_SECONDS == 0), None)


def history_json(device, start: datetime, end: datetime, bucket_seconds: int) -> str:
    """The first API's history: averages of the five chart quantities under their old names, as JSON."""
    fields = list(LEGACY_CHART_NAMES)
    return quantity_history_json(device, start, end, bucket_seconds, fields, [Aggregate.AVG], legacy_names=True)


def quantity_history_json(
    device,
    start: datetime,
    end: datetime,
    bucket_seconds: int,
    fields: Sequence[str],
    aggregates: Sequence[str],
    legacy_names: bool = False,
) -> str:
    """Per bucket in [start, end), oldest first, empty buckets omitted, as a JSON array of points.

    A point is `{"t", "samples", field: {agg: value}}`, or with `legacy_names` `{"t", "samples",
    old name: average}`; `t` is UTC ending in Z. On PostgreSQL the database writes the array itself
    (json_agg): fetching ~1,000 rows into Python objects and building a dict per point took about two
    thirds of a 30-day request, the query a third (docs/performance.md). Elsewhere it is built from the rows.
    """
    quantities = [BY_FIELD[field] for field in fields]
    aggregates = [Aggregate(aggregate) for aggregate in aggregates]
    with transaction.atomic():
        tiers = _tiers(start, end, bucket_seconds, _rollup_watermark())
        if not tiers:
            return "[]"
        statement, params = _aggregate_sql(device, tiers, bucket_seconds, quantities, aggregates)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(_points_json_sql(statement, quantities, aggregates, legacy_names), params)
                return cursor.fetchone()[0]
            cursor.execute(statement, params)
            rows = cursor.fetchall()
    points = [_point(row, quantities, aggregates, legacy_names) for row in rows]
    return orjson.dumps(points, option=orjson.OPT_UTC_Z).decode()


def _rollup_watermark() -> datetime | None:
    """The rollups' watermark, read in the statement that tunes this transaction on PostgreSQL.

    A month of readings looks expensive to the planner, which then spends ~100 ms compiling it with JIT
    for a query that runs in less; and with a little more memory than the default it hashes buckets
    instead of sorting every reading on disk. One round trip for both: under load each costs.
    """
    if connection.vendor != "postgresql":
        return RollupWatermark.objects.filter(name=WATERMARK).values_list("received_until", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true), "  # noqa: S608
            f"(SELECT received_until FROM {connection.ops.quote_name(RollupWatermark._meta.db_table)} "
            "WHERE name = %s)",
            [WATERMARK],
        )
        return cursor.fetchone()[2]


def _tiers(start: datetime, end: datetime, bucket_seconds: int, mark: datetime | None) -> list[tuple]:
    """Consecutive time ranges and the table each is read from, coarsest first, the raw readings last.

    A rollup serves the buckets completed before the watermark (whole rollup buckets, so the first may
    reach back before `start`); the finer rollup the part of the last coarse bucket it has; the readings
    the rest, which is at most a few minutes. Each tier is (rollup model or None for readings, low, high).
    """
    tiers, cursor = [], start
    for model in ROLLUPS if mark is not None else ():
        if bucket_seconds % model.BUCKET_SECONDS:
            continue
        size = timedelta(seconds=model.BUCKET_SECONDS)
        low = BUCKET_ORIGIN + ((cursor - BUCKET_ORIGIN) // size) * size if not tiers else cursor
        high = min(end, BUCKET_ORIGIN + ((mark - BUCKET_ORIGIN) // size) * size)
        if high > cursor:
            tiers.append((model, low, high))
            cursor = high
    if cursor < end:
        tiers.append((None, cursor, end))
    return tiers


def _aggregate_sql(device, tiers, bucket_seconds, quantities, aggregates) -> tuple[str, list]:
    """One statement: every tier's rows in rollup form (a reading is a rollup of one), bucketed and combined.

    Its columns are `t`, `samples` and `c0`, `c1`, ... for each quantity's aggregates in order.
    """
    vendor, quote = connection.vendor, connection.ops.quote_name
    device_key = TelemetryRecord._meta.get_field("device").get_db_prep_value(device.pk, connection)
    names = [(quantity, aggregate, quote(rollup_column(quantity, aggregate))) for quantity in quantities
             for aggregate in aggregates]  # fmt: skip
    parts, params = [], []
    for source, low, high in tiers:
        if source is None:
            values = ", ".join(f"{quote(quantity.column)} AS {name}" for quantity, _, name in names)
            table, time_column, samples = TelemetryRecord._meta.db_table, "ts", "1"
        else:
            values = ", ".join(name for _, _, name in names)
            table, time_column, samples = source._meta.db_table, "bucket", "samples"
        parts.append(
            f"SELECT {time_column} AS at, {samples} AS samples, {values} FROM {quote(table)} "  # noqa: S608
            f"WHERE device_id = %s AND {time_column} >= %s AND {time_column} < %s"
        )
        params += [device_key, low, high]
    bucket = bucket_sql(vendor, "at", bucket_seconds)
    inner = f"SELECT {bucket} AS t, combined.* FROM ({' UNION ALL '.join(parts)}) AS combined"  # noqa: S608
    if Aggregate.LAST in aggregates:
        inner = (
            f"SELECT bucketed.*, row_number() OVER (PARTITION BY t ORDER BY at) AS n, "  # noqa: S608
            f"count(*) OVER (PARTITION BY t) AS total FROM ({inner}) AS bucketed"
        )
    outer = ", ".join(f"{combine_sql(aggregate, name)} AS c{n}" for n, (_, aggregate, name) in enumerate(names))
    return f"SELECT t, sum(samples) AS samples, {outer} FROM ({inner}) AS rows GROUP BY t ORDER BY t", params  # noqa: S608


def _points_json_sql(statement: str, quantities: list[Quantity], aggregates: Sequence[str], legacy_names: bool) -> str:
    """The rows of `statement` (_aggregate_sql) as the JSON array of points, written by PostgreSQL.

    The same text as _point's dicts through orjson but for spacing (`"t" : ...`); numbers are PostgreSQL's
    shortest exact form, as Python's.
    """
    values = (f"p.c{n}" for n in count())
    members = ["'t', to_char(p.t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", "'samples', p.samples"]
    for quantity in quantities:
        shown = {a: _measured_sql(next(values), quantity, a == Aggregate.AVG) for a in aggregates}
        if legacy_names:
            members.append(f"'{LEGACY_CHART_NAMES[quantity.field]}', {shown[Aggregate.AVG]}")
        else:
            pairs = ", ".join(f"'{aggregate}', {value}" for aggregate, value in shown.items())
            members.append(f"'{quantity.field}', json_build_object({pairs})")
    point = f"json_build_object({', '.join(members)})"
    return f"SELECT COALESCE(json_agg({point} ORDER BY p.t), '[]')::text FROM ({statement}) AS p"  # noqa: S608


def _point(row: tuple, quantities: list[Quantity], aggregates: Sequence[str], legacy_names: bool) -> dict:
    t, samples, *values = row
    point = {"t": as_aware(t), "samples": samples}
    values = iter(values)
    for quantity in quantities:
        shown = {aggregate: _measured(next(values), quantity, aggregate == Aggregate.AVG) for aggregate in aggregates}
        if legacy_names:
            point[LEGACY_CHART_NAMES[quantity.field]] = shown[Aggregate.AVG]
        else:
            point[quantity.field] = shown
    return point


def _measured(value, quantity: Quantity, averaged: bool):
    """An average of single-precision readings, given with the 7 significant digits they have."""
    if value is None or quantity.counter or not averaged:
        return value
    return float(f"{value:.7g}")


def _measured_sql(value: str, quantity: Quantity, averaged: bool) -> str:
    """_measured in SQL: an average rounded to 7 significant digits (half to even, like Python's format)."""
    if quantity.counter or not averaged:
        return value
    scale = f"(6 - floor(log(abs({value}))))"
    return (
        f"CASE WHEN {value} = 0 THEN {value} WHEN {scale} >= 0 THEN round({value} * 10 ^ {scale}) / 10 ^ {scale} "
        f"ELSE round({value} / 10 ^ -{scale}) * 10 ^ -{scale} END"
    )


# --- Energy ----------------------------------------------------------------------------------------
class EnergyPeriod(models.TextChoices):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


def energy(device_pks: Sequence, start: datetime, end: datetime, period: str) -> list[dict]:
    """Energy per period in [start, end) summed over the devices, from the hourly rollup, oldest first.

    Each period says how much each counter rose (`ep_imp_kwh`, ...; resets count as nothing, see
    telemetry.rollups). Days and months are UTC. The current hour is included as far as the last
    maintenance pass has rolled it up (a few minutes behind live data).
    """
    vendor, quote = connection.vendor, connection.ops.quote_name
    if period == EnergyPeriod.MONTH:
        period_start = month_sql(vendor, "bucket")
    else:
        period_start = bucket_sql(vendor, "bucket", 86400 if period == EnergyPeriod.DAY else 3600)
    sums = ", ".join(f"sum({quote(energy_column(counter))})" for counter in COUNTERS)
    device_field = TelemetryRecord._meta.get_field("device")
    keys = [device_field.get_db_prep_value(pk, connection) for pk in device_pks]
    if not keys:
        return []
    statement = (
        f"SELECT {period_start} AS t, {sums} FROM {quote(HourlyRollup._meta.db_table)} "  # noqa: S608
        f"WHERE device_id IN ({', '.join(['%s'] * len(keys))}) AND bucket >= %s AND bucket < %s "
        "GROUP BY t ORDER BY t"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*keys, start, end])
        rows = cursor.fetchall()
    keys = [ENERGY_KEYS[counter.field] for counter in COUNTERS]
    return [{"t": as_aware(t), **dict(zip(keys, values, strict=True))} for t, *values in rows]


# --- CSV export ------------------------------------------------------------------------------------
EXPORT_BLOCK_BYTES = 64 * 1024
EXPORT_CHUNK_ROWS = 2000


class CsvKind(models.TextChoices):
    RAW = "raw"
    FIVE_MINUTE = "5m"
    HOURLY = "1h"


def export_header(kind: str) -> list[str]:
    """Column names of a CSV download, named by protocol field (`v1`, `v1_avg`, `ep_imp_energy`, ...)."""
    return [header for header, _ in _export_columns(kind)]


def _export_columns(kind: str) -> list[tuple[str, str]]:
    """(header, model field) pairs of a CSV download."""
    if kind == CsvKind.RAW:
        envelope = ["ts", "ts_estimated", "received_at", "source", "connection", "seq"]
        return [
            *((name, name) for name in envelope),
            *((q.field, q.column) for q in QUANTITIES),
            ("extra", "extra"),
        ]
    columns = [("bucket", "bucket"), ("samples", "samples")]
    for quantity in QUANTITIES:
        columns += [(f"{quantity.field}_{a}", rollup_column(quantity, a)) for a in quantity.aggregates]
    return columns + [(f"{c.field}_energy", energy_column(c)) for c in COUNTERS]


def _export_model(kind: str):
    return {CsvKind.RAW: TelemetryRecord, CsvKind.FIVE_MINUTE: FiveMinuteRollup, CsvKind.HOURLY: HourlyRollup}[kind]


def export_csv(device, start: datetime, end: datetime, kind: str = CsvKind.RAW) -> Iterator[str | bytes]:
    """The device's readings (or rollup rows) in [start, end) as CSV, header first, produced block by block.

    On PostgreSQL the database writes the CSV itself (`COPY ... TO STDOUT`), an order of magnitude
    faster than formatting rows in Python; elsewhere rows come from a chunked iterator. Either way only
    one block is held in memory, whatever the number of rows.
    """
    if connection.vendor == "postgresql":
        return _export_with_copy(device, start, end, kind)
    model, columns = _export_model(kind), _export_columns(kind)
    time_field = "ts" if kind == CsvKind.RAW else "bucket"
    rows = (
        model.objects.filter(device=device, **{f"{time_field}__gte": start, f"{time_field}__lt": end})
        .order_by(time_field)
        .values_list(*(field for _, field in columns))
        .iterator(chunk_size=EXPORT_CHUNK_ROWS)
    )
    return csv_chunks(export_header(kind), (map(_csv_value, row) for row in rows))


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


def _csv_value(value):
    """The text PostgreSQL's COPY would write for the same value."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def _export_with_copy(device, start: datetime, end: datetime, kind: str) -> Iterator[bytes]:
    iso = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    model = _export_model(kind)
    expressions = []
    for _, name in _export_columns(kind):
        field = model._meta.get_field(name)
        if isinstance(field, models.DateTimeField):
            expressions.append(sql.SQL(iso).format(sql.Identifier(field.column)))
        elif isinstance(field, ByteCodeField):
            expressions.append(sql.SQL(field.word_sql(connection.ops.quote_name(field.column))))
        elif isinstance(field, models.BooleanField):
            flag = sql.SQL("CASE WHEN {} THEN 'true' ELSE 'false' END")
            expressions.append(flag.format(sql.Identifier(field.column)))
        else:
            expressions.append(sql.Identifier(field.column))
    time_column = sql.Identifier("ts" if kind == CsvKind.RAW else "bucket")
    statement = sql.SQL(
        "COPY (SELECT {columns} FROM {table} WHERE device_id = {device} AND {time} >= {start} AND {time} < {end} "
        "ORDER BY {time}) TO STDOUT WITH (FORMAT csv, HEADER false)"
    ).format(
        columns=sql.SQL(", ").join(expressions),
        table=sql.Identifier(model._meta.db_table),
        device=sql.Literal(device.pk),
        time=time_column,
        start=sql.Literal(start),
        end=sql.Literal(end),
    )
    yield (",".join(export_header(kind)) + "\n").encode()
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
