"""One maintenance pass over the telemetry tables: partitions ahead, rollups, compression, retention.

The order matters: rollups run before retention, so a reading is always in its rollups before its
partition can go. Beat runs a pass every TELEMETRY_MAINTENANCE_SECONDS (settings.PERIODIC_TASKS) and
`manage.py telemetry_maintenance` runs one by hand; on PostgreSQL a session lock makes a second pass
that starts while one runs skip instead of racing it over the same partitions.

Per database:
- plain PostgreSQL: partitions created ahead (and back to the retention horizon, for late SD
  replays); retention drops whole partitions; there is no compression, but a day's partition gets its
  key index rebuilt once the day is over (~30 bytes per reading less), and a closed rollup partition is
  rewritten in (device, bucket) order once (CLUSTER), so long histories read few pages;
- TimescaleDB (telemetry.timescale): chunks appear by themselves; old chunks are compressed and
  dropped;
- SQLite (embedded): no partitions; expired rows are deleted in batches of TELEMETRY_DELETE_BATCH,
  each its own transaction, so the bridge is never locked out for long.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from telemetry import partitions, rollups, timescale

log = logging.getLogger(__name__)

# pg_try_advisory_lock key of the maintenance pass ("ACVMAINT" as an integer).
MAINTENANCE_LOCK = int.from_bytes(b"ACVMAINT", "big") - 2**63


@dataclass
class MaintenanceReport:
    lines: list[str] = field(default_factory=list)
    skipped: bool = False

    def say(self, line: str) -> None:
        self.lines.append(line)


def retention() -> dict[str, timedelta]:
    """How long each table keeps its rows, by model name (settings TELEMETRY_*_RETENTION_DAYS)."""
    return {
        "TelemetryRecord": timedelta(days=settings.TELEMETRY_RAW_RETENTION_DAYS),
        "FiveMinuteRollup": timedelta(days=settings.TELEMETRY_5MIN_RETENTION_DAYS),
        "HourlyRollup": timedelta(days=settings.TELEMETRY_HOURLY_RETENTION_DAYS),
    }


def run_pass(now: datetime | None = None) -> MaintenanceReport:
    now = now or datetime.now(UTC)
    report = MaintenanceReport()
    if connection.vendor != "postgresql":
        _roll_up(report, now)
        _delete_expired(report, now)
        return report
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [MAINTENANCE_LOCK])
        (locked,) = cursor.fetchone()
    if not locked:
        report.skipped = True
        report.say("another maintenance pass is running; skipped")
        return report
    try:
        hypertables = timescale.enabled()
        if not hypertables:
            _create_partitions(report, now)
        _roll_up(report, now)
        if hypertables:
            _compress(report)
            _drop_chunks(report)
        else:
            report.say("compression: not available (plain PostgreSQL; TimescaleDB compresses, see docs/deployment.md)")
            _drop_partitions(report, now)
            _compact(report, now)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MAINTENANCE_LOCK])
    return report


def _create_partitions(report: MaintenanceReport, now: datetime) -> None:
    ahead = timedelta(days=settings.TELEMETRY_PARTITIONS_AHEAD_DAYS)
    kept = retention()
    for name, scheme in partitions.schemes().items():
        created = partitions.ensure_partitions(scheme, now - kept[name], now + ahead)
        report.say(f"partitions of {scheme.table}: " + (f"created {', '.join(created)}" if created else "up to date"))


def _roll_up(report: MaintenanceReport, now: datetime) -> None:
    done = rollups.roll_up(now)
    report.say(
        f"rollups: {done.batches} committed batch(es) taken in; {done.five_minute_buckets} 5-minute and "
        f"{done.hourly_buckets} hourly buckets rewritten in {done.windows} window(s); newest reading included "
        f"received {done.received_until:%Y-%m-%d %H:%M:%S} UTC"
    )


def _drop_partitions(report: MaintenanceReport, now: datetime) -> None:
    kept = retention()
    for name, scheme in partitions.schemes().items():
        dropped, strays = partitions.drop_partitions_before(scheme, now - kept[name])
        summary = f"dropped {', '.join(dropped)}" if dropped else "nothing due"
        report.say(f"retention of {scheme.table} ({kept[name].days} d): {summary}; {strays} stray rows deleted")


def _compact(report: MaintenanceReport, now: datetime) -> None:
    """Closed partitions: the readings' key rebuilt, the rollups rewritten in (device, bucket) order."""
    closed_before = now - timedelta(hours=settings.TELEMETRY_COMPACT_AFTER_HOURS)
    for name, scheme in partitions.schemes().items():
        done = partitions.compact_closed_partitions(scheme, closed_before, cluster=name != "TelemetryRecord")
        report.say(f"compacted closed partitions of {scheme.table}: {', '.join(done) if done else 'none due'}")


def _compress(report: MaintenanceReport) -> None:
    table = partitions.schemes()["TelemetryRecord"].table
    count = timescale.compress(table, timedelta(days=settings.TELEMETRY_COMPRESS_AFTER_DAYS))
    report.say(f"compression of {table}: {count} chunk(s) compressed")


def _drop_chunks(report: MaintenanceReport) -> None:
    kept = retention()
    for name, scheme in partitions.schemes().items():
        count = timescale.drop_chunks(scheme.table, kept[name])
        report.say(f"retention of {scheme.table} ({kept[name].days} d): {count} chunk(s) dropped")


def _delete_expired(report: MaintenanceReport, now: datetime) -> None:
    kept, batch = retention(), settings.TELEMETRY_DELETE_BATCH
    for name, scheme in partitions.schemes().items():
        table, column = connection.ops.quote_name(scheme.table), connection.ops.quote_name(scheme.column)
        statement = (
            f"DELETE FROM {table} WHERE rowid IN "  # noqa: S608
            f"(SELECT rowid FROM {table} WHERE {column} < %s LIMIT {int(batch)})"
        )
        cutoff = connection.ops.adapt_datetimefield_value(now - kept[name])
        deleted = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement, [cutoff])
                deleted += cursor.rowcount
            if cursor.rowcount < batch:
                break
        report.say(f"retention of {scheme.table} ({kept[name].days} d): {deleted} rows deleted")
