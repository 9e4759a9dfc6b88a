"""5-minute and hourly rollups, kept up to date incrementally from the readings' receive time.

A pass takes the readings received since the watermark (a few minutes of live data, or an SD replay
of hours-old readings) and recomputes, in full, every 5-minute bucket they fall into; then the hourly
buckets those lie in, from the 5-minute rows. The watermark stops TELEMETRY_ROLLUP_SETTLE_SECONDS
short of now, so a batch still in flight in the bridge (received, not yet committed) is not skipped.
Work goes in receive-time windows, one transaction each, so a first pass over a large database makes
steady progress; a window that found nothing doubles the next one.

Each bucket keeps `samples` and avg/min/max/last of every quantity, where `last` is the bucket's newest
reading. The energy of a bucket is the increase of each counter: the increase between its own readings
plus the step from the previous bucket's last value to its first, both counting a decrease as a reset
(`clear_energy`, a replaced meter) that adds nothing, never as negative energy. After a gap the energy
of the whole gap lands in the bucket where readings resume. When a back-fill fills a bucket, the
buckets after it are recomputed too, since their step now starts from the filled one.

The SQL is the same on PostgreSQL and SQLite except for bucketing (telemetry.timebuckets).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from telemetry.models import (
    FiveMinuteRollup,
    HourlyRollup,
    RollupWatermark,
    TelemetryRecord,
    energy_column,
    first_column,
    increase_column,
    rollup_column,
)
from telemetry.quantities import COUNTERS, QUANTITIES, Aggregate
from telemetry.timebuckets import add_seconds_sql, bucket_sql

WATERMARK = "rollups"
RAW, FIVE, HOURLY = TelemetryRecord._meta.db_table, FiveMinuteRollup._meta.db_table, HourlyRollup._meta.db_table
DIRTY, DIRTY_HOURS = "telemetry_rollup_dirty", "telemetry_rollup_dirty_hours"


@dataclass
class RollupReport:
    windows: int = 0
    five_minute_buckets: int = 0
    hourly_buckets: int = 0
    received_until: datetime | None = None
    notes: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def roll_up(now: datetime | None = None) -> RollupReport:
    """Bring both rollups up to date with every reading received until now - settle time."""
    now = now or datetime.now(UTC)
    until = now - timedelta(seconds=settings.TELEMETRY_ROLLUP_SETTLE_SECONDS)
    base_window = window = timedelta(seconds=settings.TELEMETRY_ROLLUP_WINDOW_SECONDS)
    report = RollupReport()
    while True:
        with transaction.atomic():
            mark = _locked_watermark(until)
            if mark.received_until >= until:
                report.received_until = mark.received_until
                return report
            window_end = min(mark.received_until + window, until)
            five, hourly = _roll_up_window(mark.received_until, window_end)
            mark.received_until = window_end
            mark.save(update_fields=["received_until"])
        report.windows += 1
        report.five_minute_buckets += five
        report.hourly_buckets += hourly
        # Quiet stretches (a first pass over old data with gaps) are crossed in ever longer windows.
        window = base_window if five else window * 2


def _locked_watermark(until: datetime) -> RollupWatermark:
    """The watermark row, locked for this pass; the first pass starts just before the oldest reading."""
    mark = RollupWatermark.objects.select_for_update().filter(name=WATERMARK).first()
    if mark is None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(received_at) FROM {_q(RAW)}", [])  # noqa: S608
            (oldest,) = cursor.fetchone()
        if isinstance(oldest, str):  # SQLite returns the aggregate as text
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        start = oldest - timedelta(microseconds=1) if oldest else until
        RollupWatermark.objects.get_or_create(name=WATERMARK, defaults={"received_until": start})
        mark = RollupWatermark.objects.select_for_update().get(name=WATERMARK)
    return mark


def _roll_up_window(received_after: datetime, received_until: datetime) -> tuple[int, int]:
    vendor = connection.vendor
    with connection.cursor() as cursor:
        for table in (DIRTY, DIRTY_HOURS):
            cursor.execute(f"DROP TABLE IF EXISTS {_q(table)}", [])
        device_type = "uuid" if vendor == "postgresql" else "char(32)"
        time_type = "timestamptz" if vendor == "postgresql" else "datetime"
        for table in (DIRTY, DIRTY_HOURS):
            cursor.execute(
                f"CREATE TEMP TABLE {_q(table)} (device_id {device_type}, bucket {time_type}, bucket_end {time_type})",
                [],
            )
        bucket = bucket_sql(vendor, "ts", FiveMinuteRollup.BUCKET_SECONDS)
        cursor.execute(
            f"INSERT INTO {_q(DIRTY)} (device_id, bucket, bucket_end) "  # noqa: S608
            f"SELECT DISTINCT device_id, {bucket}, {add_seconds_sql(vendor, bucket, FiveMinuteRollup.BUCKET_SECONDS)} "
            f"FROM {_q(RAW)} WHERE received_at > %s AND received_at <= %s",
            [received_after, received_until],
        )
        five = cursor.rowcount
        if five:
            cursor.execute(_delete_dirty(FIVE, DIRTY), [])
            cursor.execute(_five_minute_insert(), [])
            cursor.execute(_energy_update(), [])
            hour = bucket_sql(vendor, "f.bucket", HourlyRollup.BUCKET_SECONDS)
            cursor.execute(
                f"INSERT INTO {_q(DIRTY_HOURS)} (device_id, bucket, bucket_end) "  # noqa: S608
                f"SELECT DISTINCT f.device_id, {hour}, {add_seconds_sql(vendor, hour, HourlyRollup.BUCKET_SECONDS)} "
                f"FROM {_q(FIVE)} AS f JOIN ({_dirty_since()}) AS m ON f.device_id = m.device_id "
                "WHERE f.bucket >= m.since",
                [],
            )
            hourly = cursor.rowcount
            cursor.execute(_delete_dirty(HOURLY, DIRTY_HOURS), [])
            cursor.execute(_hourly_insert(), [])
        else:
            hourly = 0
        for table in (DIRTY, DIRTY_HOURS):
            cursor.execute(f"DROP TABLE {_q(table)}", [])
    return five, hourly


def _delete_dirty(table: str, dirty: str) -> str:
    return (
        f"DELETE FROM {_q(table)} WHERE EXISTS (SELECT 1 FROM {_q(dirty)} AS d "  # noqa: S608
        f"WHERE d.device_id = {_q(table)}.device_id AND d.bucket = {_q(table)}.bucket)"
    )


def _dirty_since() -> str:
    """Per device, the earliest bucket a pass rewrites: energy is recomputed from there on."""
    return f"SELECT device_id, min(bucket) AS since FROM {_q(DIRTY)} GROUP BY device_id"  # noqa: S608


def _five_minute_insert() -> str:
    """Every dirty 5-minute bucket, in full, from its readings (energy is filled in by _energy_update)."""
    inner, outer, targets = [], [], ["device_id", "bucket", "samples"]
    for quantity in QUANTITIES:
        column = _q(quantity.column)
        inner.append(f"r.{column} AS {column}")
        outer += [f"avg({column})", f"min({column})", f"max({column})", f"max(CASE WHEN n = total THEN {column} END)"]
        targets += [rollup_column(quantity, aggregate) for aggregate in Aggregate.values]
    for counter in COUNTERS:
        column, step = _q(counter.column), _q(f"{counter.column}_step")
        inner.append(f"r.{column} - lag(r.{column}) OVER w AS {step}")
        outer += [
            f"max(CASE WHEN n = 1 THEN {column} END)",
            f"CASE WHEN min({step}) < 0 THEN sum(CASE WHEN {step} > 0 THEN {step} ELSE 0 END) "
            f"ELSE max({column}) - min({column}) END",
        ]
        targets += [first_column(counter), increase_column(counter)]
    return (
        f"INSERT INTO {_q(FIVE)} ({', '.join(map(_q, targets))}) "  # noqa: S608
        f"SELECT device_id, bucket, count(*), {', '.join(outer)} FROM ("
        f"SELECT r.device_id AS device_id, d.bucket AS bucket, {', '.join(inner)}, "
        "row_number() OVER w AS n, count(*) OVER (PARTITION BY r.device_id, d.bucket) AS total "
        f"FROM {_q(RAW)} AS r JOIN {_q(DIRTY)} AS d "
        "ON r.device_id = d.device_id AND r.ts >= d.bucket AND r.ts < d.bucket_end "
        "WINDOW w AS (PARTITION BY r.device_id, d.bucket ORDER BY r.ts)"
        ") AS readings GROUP BY device_id, bucket"
    )


def _energy_update() -> str:
    """energy = increase within the bucket + the step from the previous bucket's last value (resets add 0)."""
    energies, assignments = [], []
    for counter in COUNTERS:
        first, last = _q(first_column(counter)), _q(rollup_column(counter, Aggregate.LAST))
        measured = _q(rollup_column(counter, Aggregate.MAX))
        increase, energy = _q(increase_column(counter)), _q(energy_column(counter))
        previous = f"lag(f.{last}) OVER w"
        # NULL for a bucket without any value of the counter (a meter that does not report it).
        energies.append(
            f"CASE WHEN f.{measured} IS NOT NULL THEN COALESCE(f.{increase}, 0) + CASE WHEN f.{first} >= {previous} "
            f"THEN f.{first} - {previous} ELSE 0 END END AS {energy}"
        )
        assignments.append(f"{energy} = e.{energy}")
    # The window starts at the bucket before the earliest rewritten one, whose own energy stays as it is.
    return (
        f"UPDATE {_q(FIVE)} AS t SET {', '.join(assignments)} FROM ("  # noqa: S608
        f"SELECT f.device_id AS device_id, f.bucket AS bucket, m.since AS since, {', '.join(energies)} "
        f"FROM {_q(FIVE)} AS f JOIN ({_dirty_since()}) AS m ON f.device_id = m.device_id "
        f"WHERE f.bucket >= COALESCE((SELECT max(p.bucket) FROM {_q(FIVE)} AS p "
        "WHERE p.device_id = m.device_id AND p.bucket < m.since), m.since) "
        "WINDOW w AS (PARTITION BY f.device_id ORDER BY f.bucket)"
        ") AS e WHERE t.device_id = e.device_id AND t.bucket = e.bucket AND e.bucket >= e.since"
    )


def _hourly_insert() -> str:
    """Every dirty hour from its 5-minute rows: averages weighted by samples, energy summed."""
    outer, targets = [], ["device_id", "bucket", "samples"]
    for quantity in QUANTITIES:
        avg, low, high, last = (_q(rollup_column(quantity, aggregate)) for aggregate in Aggregate.values)
        outer += [
            f"sum(CAST({avg} AS DOUBLE PRECISION) * samples) / sum(CASE WHEN {avg} IS NOT NULL THEN samples END)",
            f"min({low})",
            f"max({high})",
            f"max(CASE WHEN n = total THEN {last} END)",
        ]
        targets += [rollup_column(quantity, aggregate) for aggregate in Aggregate.values]
    for counter in COUNTERS:
        outer.append(f"sum({_q(energy_column(counter))})")
        targets.append(energy_column(counter))
    return (
        f"INSERT INTO {_q(HOURLY)} ({', '.join(map(_q, targets))}) "  # noqa: S608
        f"SELECT device_id, hour, sum(samples), {', '.join(outer)} FROM ("
        "SELECT f.*, d.bucket AS hour, row_number() OVER (PARTITION BY f.device_id, d.bucket ORDER BY f.bucket) AS n, "
        "count(*) OVER (PARTITION BY f.device_id, d.bucket) AS total "
        f"FROM {_q(FIVE)} AS f JOIN {_q(DIRTY_HOURS)} AS d "
        "ON f.device_id = d.device_id AND f.bucket >= d.bucket AND f.bucket < d.bucket_end"
        ") AS buckets GROUP BY device_id, hour"
    )
