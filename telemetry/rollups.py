"""5-minute and hourly rollups, kept up to date incrementally from the batches of readings committed.

Every batch the ingest commits leaves its receive-time range in a queue (PendingRollup) in the same
transaction. A pass reads the queue, recomputes in full every 5-minute bucket the readings received in
those ranges fall into (a few minutes of live data, an SD replay of hours-old readings, a batch that
waited minutes in the bridge for a database that was down), then the hourly buckets those lie in, from
the 5-minute rows, and deletes the queue rows it read. A range becomes visible only when its readings
do, so no reading can commit "behind" the pass, however late it commits after its receive time; the
watermark kept beside (RollupWatermark) only tells history where the rollups end. Work goes in
receive-time windows, one transaction each, so a first pass over a large database makes steady
progress; a window that found nothing doubles the next one. `rebuild` rewrites the buckets of a device
time range from the readings, for rollups lost or readings written around the ingest.

Each bucket keeps `samples` and avg/min/max/last of every quantity, where `last` is the bucket's newest
reading. The energy of a bucket is the increase of each counter: the increase between its own readings
plus the step from the previous bucket's last value to its first, both counting a decrease as a reset
(`clear_energy`, a replaced meter) that adds nothing, never as negative energy. After a gap the energy
of the whole gap lands in the bucket where readings resume. A rewritten bucket gets its energy as it
is inserted; when an SD back-fill fills a bucket, the stored bucket after it gets its energy updated,
since its step now starts from the filled one (in live operation there is none: nothing is updated).

The SQL is the same on PostgreSQL and SQLite except for bucketing (telemetry.timebuckets).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from acuvim_console.protocol.quantities import COUNTERS, QUANTITIES, Aggregate
from telemetry.models import (
    FiveMinuteRollup,
    HourlyRollup,
    PendingRollup,
    RollupWatermark,
    TelemetryRecord,
    energy_column,
    first_column,
    increase_column,
    rollup_column,
)
from telemetry.timebuckets import BUCKET_ORIGIN, add_seconds_sql, as_aware, bucket_sql

WATERMARK = "rollups"
RAW, FIVE, HOURLY = TelemetryRecord._meta.db_table, FiveMinuteRollup._meta.db_table, HourlyRollup._meta.db_table
DIRTY, SUCCESSORS, DIRTY_HOURS = "telemetry_rollup_dirty", "telemetry_rollup_next", "telemetry_rollup_dirty_hours"


@dataclass
class RollupReport:
    windows: int = 0
    batches: int = 0
    five_minute_buckets: int = 0
    hourly_buckets: int = 0
    received_until: datetime | None = None
    notes: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def roll_up(now: datetime | None = None) -> RollupReport:
    """Take in every batch of readings committed since the last pass, however old its receive time.

    The queue (PendingRollup) is read once; its ranges, merged, are worked through in receive-time
    windows, one transaction each, and the rows read are deleted at the end. A batch that commits
    meanwhile is not among them and waits for the next pass; a pass that fails half-way leaves the
    queue as it was, and the next one rewrites the same buckets again, which changes nothing.
    """
    now = now or datetime.now(UTC)
    report = RollupReport()
    with transaction.atomic():
        mark = _locked_watermark(now)
        pending = list(PendingRollup.objects.values_list("pk", "received_from", "received_until"))
    base_window = timedelta(seconds=settings.TELEMETRY_ROLLUP_WINDOW_SECONDS)
    for low, high in _merged([(low, high) for _, low, high in pending], base_window):
        after, window = low - timedelta(microseconds=1), base_window
        while after < high:
            window_end = min(after + window, high)
            with transaction.atomic():
                dirty = (f"FROM {_q(RAW)} WHERE received_at > %s AND received_at <= %s", [after, window_end])
                five, hourly = _rewrite(*dirty)
                RollupWatermark.objects.filter(name=WATERMARK, received_until__lt=window_end).update(
                    received_until=window_end
                )
            report.windows += 1
            report.five_minute_buckets += five
            report.hourly_buckets += hourly
            after = window_end
            # Quiet stretches (a first pass over old data with gaps) are crossed in ever longer windows.
            window = base_window if five else window * 2
    keys = [pk for pk, _, _ in pending]
    for first in range(0, len(keys), DELETE_CHUNK):
        PendingRollup.objects.filter(pk__in=keys[first : first + DELETE_CHUNK]).delete()
    report.batches = len(keys)
    report.received_until = RollupWatermark.objects.get(pk=mark.pk).received_until
    return report


def _merged(ranges: list[tuple[datetime, datetime]], gap: timedelta) -> list[tuple[datetime, datetime]]:
    """Receive-time ranges joined where they overlap or lie less than `gap` apart (batches of one stream)."""
    merged: list[list[datetime]] = []
    for low, high in sorted(ranges):
        if merged and low - merged[-1][1] < gap:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [(low, high) for low, high in merged]


def rebuild(since: datetime, device_pk=None) -> RollupReport:
    """Rewrite every bucket holding readings with `ts >= since` (of one device, or all), from the readings.

    For rollups that were lost or damaged, or readings written around telemetry.ingest (which is what
    queues them). Goes a day of device time at a time, oldest first, one transaction each, so each day's
    energy starts from the day before as rebuilt. Buckets without readings any more (older than the
    readings' retention) are left as they are.
    """
    report = RollupReport()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(ts) FROM {_q(RAW)} WHERE ts >= %s", [since])  # noqa: S608
        newest = as_aware(cursor.fetchone()[0])
    if newest is None:
        return report
    device_filter, device_params = ("", []) if device_pk is None else (" AND device_id = %s", [_device_key(device_pk)])
    low, day = _five_minute_floor(since), timedelta(days=1)
    while low <= newest:
        with transaction.atomic():
            five, hourly = _rewrite(
                f"FROM {_q(RAW)} WHERE ts >= %s AND ts < %s{device_filter}",
                [max(low, since), low + day, *device_params],
            )
        report.windows += 1
        report.five_minute_buckets += five
        report.hourly_buckets += hourly
        low += day
    return report


def _five_minute_floor(moment: datetime) -> datetime:
    size = timedelta(seconds=FiveMinuteRollup.BUCKET_SECONDS)
    return BUCKET_ORIGIN + ((moment - BUCKET_ORIGIN) // size) * size


DELETE_CHUNK = 1000  # queue rows deleted per statement


def _device_key(device_pk):
    return TelemetryRecord._meta.get_field("device").get_db_prep_value(device_pk, connection)


def _locked_watermark(now: datetime) -> RollupWatermark:
    """The watermark row, locked; the first pass queues every reading stored so far (a migrated database)."""
    mark = RollupWatermark.objects.select_for_update().filter(name=WATERMARK).first()
    if mark is None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(received_at), max(received_at) FROM {_q(RAW)}", [])  # noqa: S608
            oldest, newest = map(as_aware, cursor.fetchone())
        if oldest is not None:
            PendingRollup.objects.create(received_from=oldest, received_until=newest)
        start = oldest - timedelta(microseconds=1) if oldest else now
        RollupWatermark.objects.get_or_create(name=WATERMARK, defaults={"received_until": start})
        mark = RollupWatermark.objects.select_for_update().get(name=WATERMARK)
    return mark


def _rewrite(dirty_from: str, params: list) -> tuple[int, int]:
    """Rewrite the 5-minute buckets of the readings `SELECT ... {dirty_from}` finds, and their hours.

    `dirty_from` is the FROM and WHERE part of a query on the readings, built here from constants.
    """
    vendor = connection.vendor
    device_type = "uuid" if vendor == "postgresql" else "char(32)"
    time_type = "timestamptz" if vendor == "postgresql" else "datetime"
    five_end = add_seconds_sql(vendor, "bucket", FiveMinuteRollup.BUCKET_SECONDS)
    with connection.cursor() as cursor:
        for table in (DIRTY, SUCCESSORS, DIRTY_HOURS):
            cursor.execute(f"DROP TABLE IF EXISTS {_q(table)}", [])
            cursor.execute(
                f"CREATE TEMP TABLE {_q(table)} (device_id {device_type}, bucket {time_type}, bucket_end {time_type})",
                [],
            )
        bucket = bucket_sql(vendor, "ts", FiveMinuteRollup.BUCKET_SECONDS)
        cursor.execute(
            f"INSERT INTO {_q(DIRTY)} (device_id, bucket) SELECT DISTINCT device_id, {bucket} {dirty_from}",
            params,
        )
        five = cursor.rowcount
        hourly = 0
        if five:
            cursor.execute(f"UPDATE {_q(DIRTY)} SET bucket_end = {five_end}", [])  # noqa: S608
            cursor.execute(_delete_dirty(FIVE, DIRTY), [])
            cursor.execute(_five_minute_insert(), [])
            cursor.execute(_successors_insert(), [])
            cursor.execute(_successors_update(), [])
            hour = bucket_sql(vendor, "bucket", HourlyRollup.BUCKET_SECONDS)
            cursor.execute(
                f"INSERT INTO {_q(DIRTY_HOURS)} (device_id, bucket) SELECT DISTINCT device_id, {hour} "  # noqa: S608
                f"FROM (SELECT device_id, bucket FROM {_q(DIRTY)} UNION SELECT device_id, bucket FROM {_q(SUCCESSORS)})"
                " AS changed",
                [],
            )
            hourly = cursor.rowcount
            hour_end = add_seconds_sql(vendor, "bucket", HourlyRollup.BUCKET_SECONDS)
            cursor.execute(f"UPDATE {_q(DIRTY_HOURS)} SET bucket_end = {hour_end}", [])  # noqa: S608
            cursor.execute(_delete_dirty(HOURLY, DIRTY_HOURS), [])
            cursor.execute(_hourly_insert(), [])
        for table in (DIRTY, SUCCESSORS, DIRTY_HOURS):
            cursor.execute(f"DROP TABLE {_q(table)}", [])
    return five, hourly


def _delete_dirty(table: str, dirty: str) -> str:
    return (
        f"DELETE FROM {_q(table)} WHERE EXISTS (SELECT 1 FROM {_q(dirty)} AS d "  # noqa: S608
        f"WHERE d.device_id = {_q(table)}.device_id AND d.bucket = {_q(table)}.bucket)"
    )


def _energy(row: str, counter, previous_last: str) -> str:
    """energy = increase within the bucket + the step from the previous bucket's last value (a drop adds 0).

    NULL for a bucket without any value of the counter (a meter that does not report it).
    """
    first, increase = f"{row}.{_q(first_column(counter))}", f"{row}.{_q(increase_column(counter))}"
    measured = increase  # NULL exactly when no reading of the bucket has the counter
    return (
        f"CASE WHEN {measured} IS NOT NULL THEN COALESCE({increase}, 0) + CASE WHEN {first} >= {previous_last} "
        f"THEN {first} - {previous_last} ELSE 0 END END"
    )


def _five_minute_insert() -> str:
    """Every dirty 5-minute bucket, in full, from its readings, with its energy.

    The energy needs each bucket's predecessor: the bucket before it among the new ones and the stored
    ones between them (the stored bucket before the first new one included).
    """
    inner, aggregates, targets = [], [], ["device_id", "bucket", "samples"]
    for quantity in QUANTITIES:
        column = _q(quantity.column)
        inner.append(f"r.{column} AS {column}")
        expressions = {
            Aggregate.AVG: f"avg({column})",
            Aggregate.MIN: f"min({column})",
            Aggregate.MAX: f"max({column})",
            Aggregate.LAST: f"max(CASE WHEN n = total THEN {column} END)",
        }
        for aggregate in quantity.aggregates:
            expression = expressions[aggregate]
            aggregates.append(f"{expression} AS {_q(rollup_column(quantity, aggregate))}")
            targets.append(rollup_column(quantity, aggregate))
    carried = []  # the columns the energy of the next bucket depends on
    for counter in COUNTERS:
        column, step = _q(counter.column), _q(f"{counter.column}_step")
        inner.append(f"r.{column} - lag(r.{column}) OVER w AS {step}")
        aggregates += [
            f"max(CASE WHEN n = 1 THEN {column} END) AS {_q(first_column(counter))}",
            f"CASE WHEN min({step}) < 0 THEN sum(CASE WHEN {step} > 0 THEN {step} ELSE 0 END) "
            f"ELSE max({column}) - min({column}) END AS {_q(increase_column(counter))}",
        ]
        targets += [first_column(counter), increase_column(counter)]
        carried += [first_column(counter), increase_column(counter), rollup_column(counter, Aggregate.LAST)]
    carried_sql = ", ".join(map(_q, carried))
    energies = ", ".join(
        f"{_energy('c', counter, f'lag(c.{_q(rollup_column(counter, Aggregate.LAST))}) OVER w')} "
        f"AS {_q(energy_column(counter))}"
        for counter in COUNTERS
    )
    fresh = (
        f"SELECT device_id, bucket, count(*) AS samples, {', '.join(aggregates)} FROM ("  # noqa: S608
        f"SELECT r.device_id AS device_id, d.bucket AS bucket, {', '.join(inner)}, "
        "row_number() OVER w AS n, count(*) OVER (PARTITION BY r.device_id, d.bucket) AS total "
        f"FROM {_q(RAW)} AS r JOIN {_q(DIRTY)} AS d "
        "ON r.device_id = d.device_id AND r.ts >= d.bucket AND r.ts < d.bucket_end "
        "WINDOW w AS (PARTITION BY r.device_id, d.bucket ORDER BY r.ts)"
        ") AS readings GROUP BY device_id, bucket"
    )
    stored_between = (
        f"SELECT f.device_id, f.bucket, {', '.join('f.' + _q(c) for c in carried)}, 0 AS is_fresh "  # noqa: S608
        f"FROM {_q(FIVE)} AS f JOIN (SELECT device_id, min(bucket) AS since, max(bucket) AS until "
        f"FROM {_q(DIRTY)} GROUP BY device_id) AS m ON f.device_id = m.device_id "
        f"WHERE f.bucket < m.until AND f.bucket >= COALESCE((SELECT max(p.bucket) FROM {_q(FIVE)} AS p "
        "WHERE p.device_id = m.device_id AND p.bucket < m.since), m.since)"
    )
    columns = ", ".join(_q(c) for c in (*targets, *(energy_column(counter) for counter in COUNTERS)))
    return (
        f"WITH fresh AS ({fresh}), "  # noqa: S608
        f"context AS (SELECT device_id, bucket, {carried_sql}, 1 AS is_fresh FROM fresh UNION ALL {stored_between}), "
        f"energies AS (SELECT c.device_id AS device_id, c.bucket AS bucket, c.is_fresh AS is_fresh, {energies} "
        "FROM context AS c WINDOW w AS (PARTITION BY c.device_id ORDER BY c.bucket)) "
        f"INSERT INTO {_q(FIVE)} ({columns}) "
        f"SELECT {', '.join('fresh.' + _q(c) for c in targets)}, "
        f"{', '.join('e.' + _q(energy_column(counter)) for counter in COUNTERS)} "
        "FROM fresh JOIN energies AS e ON e.device_id = fresh.device_id AND e.bucket = fresh.bucket "
        "AND e.is_fresh = 1"
    )


def _successors_insert() -> str:
    """The stored bucket after each rewritten one (not rewritten itself): its step now starts elsewhere.

    None in live operation, where the rewritten buckets are the newest; an SD back-fill has some.
    """
    return (
        f"INSERT INTO {_q(SUCCESSORS)} (device_id, bucket) SELECT DISTINCT d.device_id, "  # noqa: S608
        f"(SELECT min(f.bucket) FROM {_q(FIVE)} AS f WHERE f.device_id = d.device_id AND f.bucket > d.bucket) AS next "
        f"FROM {_q(DIRTY)} AS d WHERE EXISTS (SELECT 1 FROM {_q(FIVE)} AS f "
        "WHERE f.device_id = d.device_id AND f.bucket > d.bucket) "
        f"AND NOT EXISTS (SELECT 1 FROM {_q(DIRTY)} AS o WHERE o.device_id = d.device_id AND o.bucket = "
        f"(SELECT min(f.bucket) FROM {_q(FIVE)} AS f WHERE f.device_id = d.device_id AND f.bucket > d.bucket))"
    )


def _successors_update() -> str:
    assignments = []
    for counter in COUNTERS:
        last = _q(rollup_column(counter, Aggregate.LAST))
        previous = (
            f"(SELECT p.{last} FROM {_q(FIVE)} AS p WHERE p.device_id = t.device_id AND p.bucket < t.bucket "  # noqa: S608
            "ORDER BY p.bucket DESC LIMIT 1)"
        )
        assignments.append(f"{_q(energy_column(counter))} = {_energy('t', counter, previous)}")
    return (
        f"UPDATE {_q(FIVE)} AS t SET {', '.join(assignments)} FROM {_q(SUCCESSORS)} AS s "  # noqa: S608
        "WHERE t.device_id = s.device_id AND t.bucket = s.bucket"
    )


def combine_sql(aggregate: str, column: str) -> str:
    """SQL combining one aggregate over a bucket's rows (rollup rows, or readings as rollups of one).

    Averages are weighted by the readings each row stands for. Also history's (telemetry.queries).
    """
    if aggregate == Aggregate.LAST:
        return f"max(CASE WHEN n = total THEN {column} END)"
    if aggregate == Aggregate.AVG:
        return (
            f"sum(CAST({column} AS DOUBLE PRECISION) * samples) / sum(CASE WHEN {column} IS NOT NULL THEN samples END)"
        )
    return f"{aggregate}({column})"


def _hourly_insert() -> str:
    """Every dirty hour from its 5-minute rows: averages weighted by samples, energy summed."""
    outer, targets = [], ["device_id", "bucket", "samples"]
    for quantity in QUANTITIES:
        for aggregate in quantity.aggregates:
            outer.append(combine_sql(aggregate, _q(rollup_column(quantity, aggregate))))
            targets.append(rollup_column(quantity, aggregate))
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
