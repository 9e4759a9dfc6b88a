"""Partitions and retention on PostgreSQL (telemetry.partitions, telemetry.maintenance, the management command)."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from telemetry import partitions
from telemetry.maintenance import run_pass
from telemetry.models import FiveMinuteRollup, HourlyRollup, TelemetryRecord
from tests.factories import make_device
from tests.telemetry.readings import store, store_many

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
RAW = partitions.schemes()["TelemetryRecord"]


def day(offset: int) -> datetime:
    return datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=offset)


def said(report, beginning: str) -> str:
    return next(line for line in report.lines if line.startswith(beginning))


def holding_partition(device, ts: datetime) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM telemetry_telemetryrecord WHERE device_id = %s AND ts = %s",
            [device.pk, ts],
        )
        return cursor.fetchone()[0]


def test_a_reading_outside_every_partition_waits_in_the_default_one_and_moves_into_its_partition_when_created():
    device = make_device()
    future = day(40) + timedelta(hours=6)
    store(device, future)
    assert holding_partition(device, future) == RAW.default_partition

    created = partitions.ensure_partitions(RAW, day(40), day(41))

    assert created == ["telemetry_telemetryrecord_p20270110"]
    assert holding_partition(device, future) == created[0]
    assert TelemetryRecord.objects.filter(device=device).count() == 1
    assert partitions.ensure_partitions(RAW, day(40), day(41)) == []


def test_maintenance_creates_partitions_ahead_and_back_to_the_retention_horizon(settings):
    settings.TELEMETRY_PARTITIONS_AHEAD_DAYS = 3
    run_pass(NOW)
    starts = set(partitions.existing_partitions(RAW))
    assert {day(n) for n in range(-7, 4)} <= starts
    assert partitions.existing_partitions(partitions.schemes()["HourlyRollup"])  # 30-day spans, a year back


def test_retention_drops_exactly_the_partitions_wholly_past_it_and_the_older_strays(settings):
    settings.TELEMETRY_RAW_RETENTION_DAYS = 7
    device = make_device()
    partitions.ensure_partitions(RAW, day(-10), day(1))
    noon = [day(n) + timedelta(hours=12) for n in range(-10, 1)]
    stray_old, stray_future = day(-30), day(60)
    store_many(device, [(ts, {}) for ts in [*noon, stray_old, stray_future]])

    report = run_pass(NOW)

    # Cutoff 2026-11-24 15:00: the days up to 11-23 are wholly older and go; 11-24 holds a reading from
    # before the cutoff but also hours after it, so it stays until the next day's pass.
    kept = set(TelemetryRecord.objects.filter(device=device).values_list("ts", flat=True))
    assert kept == {*noon[3:], stray_future}
    assert set(partitions.existing_partitions(RAW)).isdisjoint({day(-10), day(-9), day(-8)})
    assert day(-7) in partitions.existing_partitions(RAW)
    line = next(line for line in report.lines if line.startswith("retention of telemetry_telemetryrecord "))
    assert "p20261121, telemetry_telemetryrecord_p20261122, telemetry_telemetryrecord_p20261123" in line
    assert line.endswith("1 stray rows deleted")


def test_rollups_outlive_the_readings_they_summarise_and_expire_by_their_own_settings(settings):
    settings.TELEMETRY_RAW_RETENTION_DAYS = 7
    settings.TELEMETRY_5MIN_RETENTION_DAYS = 30
    device = make_device()
    old = NOW - timedelta(days=20)
    store_many(device, [(old + timedelta(seconds=5 * n), {}) for n in range(12)])
    store_many(device, [(NOW - timedelta(days=90), {})])

    run_pass(NOW)

    assert not TelemetryRecord.objects.filter(device=device).exists()
    assert FiveMinuteRollup.objects.filter(device=device).count() == 1  # the 90-day-old bucket is past 30 days
    assert HourlyRollup.objects.filter(device=device).count() == 2


def test_the_management_command_runs_one_pass_and_says_what_it_did():
    out = StringIO()
    call_command("telemetry_maintenance", stdout=out)
    text = out.getvalue()
    for expected in ("partitions of telemetry_telemetryrecord:", "rollups:", "compression: not available",
                     "retention of telemetry_hourlyrollup (365 d)"):  # fmt: skip
        assert expected in text


def test_a_closed_days_key_index_is_rebuilt_once_and_the_open_day_is_left_alone():
    device = make_device()
    partitions.ensure_partitions(RAW, day(-1), day(1))
    store_many(device, [(day(-1) + timedelta(seconds=5 * n), {}) for n in range(2000)])

    first = run_pass(NOW)
    second = run_pass(NOW + timedelta(minutes=5))

    line = said(first, "compacted closed partitions of telemetry_telemetryrecord")
    assert "telemetry_telemetryrecord_p20261130" in line and "p20261201" not in line
    assert all("none due" in line for line in second.lines if line.startswith("compacted"))
    assert TelemetryRecord.objects.filter(device=device).count() == 2000


def test_a_closed_rollup_partition_is_rewritten_in_device_order_once():
    device = make_device()
    hourly = partitions.schemes()["HourlyRollup"]
    closed = hourly.partition_start(NOW) - hourly.span  # the 30-day span before the current one
    store_many(device, [(closed + timedelta(hours=n), {}) for n in range(3)])

    report = run_pass(NOW)

    name = hourly.partition_name(closed)
    assert name in said(report, "compacted closed partitions of " + hourly.table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indisclustered FROM pg_index WHERE indrelid = %s::regclass AND indisprimary", [name]
        )
        assert cursor.fetchone() == (True,)
    assert HourlyRollup.objects.filter(device=device).count() == 3


def test_the_command_rebuilds_the_rollups_of_readings_loaded_around_the_ingest():
    device = make_device()
    store_many(device, [(NOW - timedelta(hours=3), {})])
    run_pass(NOW)
    loaded = NOW - timedelta(hours=2)
    # Rows written by SQL, as a bulk load or a restore would: nothing queues them for the rollups.
    rows = [TelemetryRecord(device=device, ts=loaded + timedelta(seconds=5 * n), received_at=loaded) for n in range(6)]
    TelemetryRecord.objects.bulk_create(rows)
    run_pass(NOW + timedelta(minutes=5))
    assert not FiveMinuteRollup.objects.filter(device=device, bucket=loaded).exists()

    out = StringIO()
    call_command("telemetry_maintenance", "--rebuild-rollups", "--since", "2026-12-01T12:00:00Z",
                 "--device", device.device_id, stdout=out)  # fmt: skip

    assert FiveMinuteRollup.objects.get(device=device, bucket=loaded).samples == 6
    assert f"rollups rebuilt for {device.device_id} since 2026-12-01 12:00:00 UTC: 2 5-minute" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--rebuild-rollups"], "needs --since"),
        (["--rebuild-rollups", "--since", "yesterday"], "is not an ISO 8601"),
        (["--rebuild-rollups", "--since", "2026-02-30"], "--since '2026-02-30'"),
        (["--rebuild-rollups", "--since", "2026-11-30", "--device", "ACV-NOSUCH"], "no device 'ACV-NOSUCH'"),
        (["--since", "2026-11-30"], "go with --rebuild-rollups"),
    ],
)
def test_the_rebuild_refuses_what_it_cannot_do_with_a_reason(arguments, reason):
    with pytest.raises(CommandError, match=reason):
        call_command("telemetry_maintenance", *arguments, stdout=StringIO())
