"""telemetry.rollups on PostgreSQL: buckets equal a direct aggregation of readings; energy survives resets and gaps."""

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from acuvim_console.protocol.quantities import QUANTITIES
from telemetry.models import FiveMinuteRollup, HourlyRollup, RollupWatermark, TelemetryRecord
from telemetry.rollups import rebuild, roll_up
from tests.factories import make_device
from tests.telemetry.readings import every, store_many

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)
CHECKED = ("f", "v1", "v2", "i3", "in", "pt", "pft", "thd_i3", "ub_v", "ep_imp")


def varied_fields(rng: random.Random, n: int) -> dict:
    return {
        **{q.field: round(rng.uniform(0, 500), 2) for q in QUANTITIES if not q.counter},
        "ep_imp": 1000.0 + n * 0.5,
        "ep_exp": 0.0,
        "eq_imp": 200.0 + n * 0.25,
        "eq_exp": 0.0,
    }


def direct_buckets(device, seconds: int) -> dict:
    """The readings aggregated in Python, bucket by bucket: what the rollups must equal."""
    buckets = defaultdict(list)
    for row in TelemetryRecord.objects.filter(device=device).order_by("ts"):
        start = T0 + timedelta(seconds=((row.ts - T0).total_seconds() // seconds) * seconds)
        buckets[start].append(row)
    return buckets


def assert_matches(rollup, rows) -> None:
    assert rollup.samples == len(rows)
    for field in CHECKED:
        quantity = next(q for q in QUANTITIES if q.field == field)
        column = quantity.column
        values = [getattr(row, column) for row in rows]
        assert getattr(rollup, f"{column}_last") == pytest.approx(values[-1], rel=1e-6)
        if quantity.counter:  # only `last` is kept of a counter
            assert not hasattr(rollup, f"{column}_avg")
            continue
        assert getattr(rollup, f"{column}_avg") == pytest.approx(sum(values) / len(values), rel=1e-6)
        assert getattr(rollup, f"{column}_min") == pytest.approx(min(values), rel=1e-6)
        assert getattr(rollup, f"{column}_max") == pytest.approx(max(values), rel=1e-6)


def test_five_minute_and_hourly_rollups_equal_a_direct_aggregation_of_the_readings():
    device, other = make_device(), make_device()
    rng = random.Random(14)
    times = every(T0, 7, 2 * 3600 // 7)  # two hours at an interval that does not divide a bucket
    store_many(device, [(ts, varied_fields(rng, n)) for n, ts in enumerate(times)])
    store_many(other, [(ts, {"v1": 1.0}) for ts in times[:10]])

    report = roll_up(LATER)

    assert report.five_minute_buckets == 24 + 1 and report.hourly_buckets == 2 + 1
    for seconds, model in ((300, FiveMinuteRollup), (3600, HourlyRollup)):
        expected = direct_buckets(device, seconds)
        rollups = {r.bucket: r for r in model.objects.filter(device=device)}
        assert sorted(rollups) == sorted(expected)
        for bucket, rows in expected.items():
            assert_matches(rollups[bucket], rows)
    assert FiveMinuteRollup.objects.get(device=other).v1_avg == 1.0


def test_a_second_pass_with_nothing_new_rewrites_nothing():
    device = make_device()
    store_many(device, [(ts, {}) for ts in every(T0, 5, 60)])
    roll_up(LATER)
    assert roll_up(LATER).five_minute_buckets == 0
    assert FiveMinuteRollup.objects.count() == 1


def test_a_batch_committed_long_after_its_receive_time_is_rolled_up_by_the_next_pass():
    device = make_device()
    store_many(device, [(ts, {}) for ts in every(T0, 5, 12)], received_at=T0 + timedelta(minutes=1))
    store_many(device, [(T0 + timedelta(minutes=30), {})], received_at=T0 + timedelta(minutes=30))
    roll_up(T0 + timedelta(minutes=31))
    assert RollupWatermark.objects.get().received_until == T0 + timedelta(minutes=30)

    # Received at minute 5, committed only now (the database was down, the writer held the batch): its
    # receive time is 25 minutes behind the watermark.
    late = T0 + timedelta(minutes=5)
    store_many(device, [(late + timedelta(seconds=5 * n), {"v1": 100.0}) for n in range(3)], received_at=late)
    report = roll_up(T0 + timedelta(minutes=32))

    assert report.batches == 1 and report.five_minute_buckets == 1
    assert FiveMinuteRollup.objects.get(device=device, bucket=late).samples == 3
    assert FiveMinuteRollup.objects.get(device=device, bucket=late).v1_min == 100.0
    assert HourlyRollup.objects.get(device=device).samples == 12 + 3 + 1
    assert roll_up(T0 + timedelta(minutes=33)).batches == 0


def test_a_rebuild_reproduces_a_direct_aggregation_after_the_rollups_were_damaged_or_bypassed():
    device, other = make_device(), make_device()
    rng = random.Random(7)
    times = every(T0, 10, 3600 // 10)
    store_many(device, [(ts, varied_fields(rng, n)) for n, ts in enumerate(times)])
    store_many(other, [(ts, {"v1": 1.0}) for ts in times[:30]])
    roll_up(LATER)
    FiveMinuteRollup.objects.filter(device=device).update(v1_avg=-1.0, samples=0)
    HourlyRollup.objects.filter(device=device).delete()
    FiveMinuteRollup.objects.filter(device=other).update(v1_avg=-1.0)

    report = rebuild(T0 + timedelta(minutes=2), device_pk=device.pk)

    assert report.five_minute_buckets == 12 and report.hourly_buckets == 1
    for seconds, model in ((300, FiveMinuteRollup), (3600, HourlyRollup)):
        expected = direct_buckets(device, seconds)
        rollups = {r.bucket: r for r in model.objects.filter(device=device)}
        assert sorted(rollups) == sorted(expected)
        for bucket, rows in expected.items():
            assert_matches(rollups[bucket], rows)
    assert [r.ep_imp_energy for r in FiveMinuteRollup.objects.filter(device=device).order_by("bucket")][1:] == [
        pytest.approx(15.0)
    ] * 11  # 30 readings of +0.5 kWh per bucket
    assert set(FiveMinuteRollup.objects.filter(device=other).values_list("v1_avg", flat=True)) == {-1.0}  # not asked


def energies(model, device) -> list[float]:
    return list(model.objects.filter(device=device).order_by("bucket").values_list("ep_imp_energy", flat=True))


def test_energy_per_bucket_counts_a_counter_reset_as_no_energy_never_negative():
    device = make_device()
    # 100.0 rising 1 kWh a minute for 10 minutes, then clear_energy: 0.0 rising again for 10 minutes.
    counter = [100.0 + n for n in range(10)] + [0.0 + n for n in range(10)]
    store_many(device, [(T0 + timedelta(minutes=n), {"ep_imp": value}) for n, value in enumerate(counter)])

    roll_up(LATER)

    # Bucket 1: 100..104 (4); bucket 2: 105..109 (+1 step, 4 within); bucket 3: reset to 0 then 0..4 (4);
    # bucket 4: 5..9 (+1 step, 4 within).
    assert energies(FiveMinuteRollup, device) == [4.0, 5.0, 4.0, 5.0]
    assert energies(HourlyRollup, device) == [18.0]
    assert min(energies(FiveMinuteRollup, device)) >= 0


def test_an_sd_backfill_fills_its_buckets_and_takes_the_energy_from_the_bucket_after_the_gap():
    device = make_device()
    minute = timedelta(minutes=1)
    live = [n for n in range(60) if not 10 <= n < 40]  # a 30-minute outage, the gateway buffered to SD
    store_many(device, [(T0 + n * minute, {"ep_imp": 1000.0 + n}) for n in live])
    roll_up(T0 + timedelta(hours=2))
    before = dict(FiveMinuteRollup.objects.filter(device=device).values_list("bucket", "ep_imp_energy"))
    resumed = T0 + 40 * minute
    assert before[resumed] == 31.0 + 4.0  # the whole gap (1009 -> 1040) lands where readings resume

    replayed_at = T0 + timedelta(hours=3)
    backfill = [(T0 + n * minute, {"ep_imp": 1000.0 + n}) for n in range(10, 40)]
    store_many(device, backfill, received_at=replayed_at, source="sd")
    report = roll_up(replayed_at + timedelta(minutes=5))

    after = dict(FiveMinuteRollup.objects.filter(device=device).values_list("bucket", "ep_imp_energy"))
    assert report.five_minute_buckets == 6
    assert after[resumed] == 5.0 and after[T0 + 10 * minute] == 5.0
    assert sum(after.values()) == sum(before.values()) == 59.0  # 1000 -> 1059 either way
    assert math.isclose(HourlyRollup.objects.get(device=device).ep_imp_energy, 59.0)
    assert HourlyRollup.objects.get(device=device).samples == 60
