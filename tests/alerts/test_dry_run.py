"""A rule's dry run over stored history: the same state machine as live evaluation, nothing saved."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.dry_run import dry_run
from alerts.models import Alert, AlertRule, AlertRuleState
from telemetry.ingest import store_readings
from tests.alerts.conftest import series
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def rule(**fields) -> AlertRule:
    return AlertRule(**{"name": "V1 high", "field": "v1", "op": ">", "threshold": 250, "clear_threshold": 245,
                        "duration_s": 10, **fields})


def test_the_dry_run_counts_what_the_rule_would_have_opened_over_the_last_7_days():
    spiky, steady = make_device(), make_device()
    start = timezone.now() - timedelta(days=2)
    # Two breaches that last (the second after a dip below the clear threshold), one too short, one at 248.
    store_readings(series(spiky, start, "v1", [251, 252, 255, 244, 252, 253, 254, 230, 251, 230, 248], every_s=5))
    store_readings(series(steady, start, "v1", [230] * 20))
    store_readings(series(spiky, timezone.now() - timedelta(days=8), "v1", [260] * 5))  # older than the window
    result = dry_run(rule()).as_dict()
    assert (result["readings"], result["devices"], result["would_open"], result["truncated"]) == (31, 2, 2, False)
    first_at = (start + timedelta(seconds=10)).isoformat()
    assert result["busiest"] == [{"device_id": spiky.device_id, "opened": 2, "first_at": first_at}]
    assert not Alert.objects.exists() and not AlertRuleState.objects.exists()


def test_the_dry_run_stops_at_its_row_limit_and_says_so(settings):
    settings.ALERT_RULE_DRY_RUN_MAX_ROWS = 5
    device = make_device()
    store_readings(series(device, timezone.now() - timedelta(hours=1), "v1", [260] * 12))
    result = dry_run(rule(device=device)).as_dict()
    assert result["truncated"] is True and result["readings"] == 5 and result["would_open"] == 1


def test_past_the_row_limit_the_dry_run_replays_the_5_minute_rollups_by_their_worst_values(settings):
    from telemetry.rollups import roll_up

    device = make_device()
    start = (timezone.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    values = [230.0] * 720  # an hour every 5 s, with a 2-minute swell at minute 31 and a sag at minute 47
    values[372:396] = [262.0] * 24
    values[564:570] = [190.0] * 6
    store_readings(series(device, start, "v1", values))
    roll_up()
    settings.ALERT_RULE_DRY_RUN_MAX_ROWS = 100
    high = dry_run(rule(device=device, duration_s=0)).as_dict()
    assert (high["resolution"], high["readings"], high["would_open"], high["truncated"]) == ("5min", 12, 1, False)
    assert high["busiest"][0]["first_at"] == (start + timedelta(minutes=35)).isoformat()  # the bucket's end
    low = dry_run(rule(device=device, op="<", threshold=200, clear_threshold=None, duration_s=0)).as_dict()
    band = dry_run(rule(device=device, op="outside", threshold=200, threshold_high=250, clear_threshold=None,
                        duration_s=0)).as_dict()
    assert (low["would_open"], band["would_open"]) == (1, 2)


def test_an_energy_counter_rule_past_the_row_limit_replays_the_buckets_first_and_last_reading(settings):
    """The rollups keep no min or max of a counter: its first and last reading of a bucket stand for them."""
    from telemetry.rollups import roll_up

    device = make_device()
    start = (timezone.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    store_readings(series(device, start, "ep_imp", [float(n) for n in range(180)]))  # 15 minutes, 1 kWh per 5 s
    roll_up()
    settings.ALERT_RULE_DRY_RUN_MAX_ROWS = 100
    above = dry_run(rule(device=device, field="ep_imp", threshold=100, clear_threshold=None, duration_s=0)).as_dict()
    assert (above["resolution"], above["readings"], above["would_open"]) == ("5min", 3, 1)
    assert above["busiest"][0]["first_at"] == (start + timedelta(minutes=10)).isoformat()  # 2nd bucket ends at 119
    # Below 30 only early in the first bucket, whose last reading (59) is above: its first (0) says so.
    below = dry_run(rule(device=device, field="ep_imp", op="<", threshold=30, clear_threshold=None,
                         duration_s=0)).as_dict()
    assert (below["would_open"], below["busiest"][0]["first_at"]) == (1, (start + timedelta(minutes=5)).isoformat())


def test_with_readings_kept_fewer_days_than_the_dry_run_looks_back_it_replays_the_rollups(settings):
    """Raw retention of 2 days: a breach 5 days ago is only in the rollups, and the dry run still sees it."""
    from telemetry.rollups import roll_up

    device = make_device()
    start = (timezone.now() - timedelta(days=5)).replace(minute=0, second=0, microsecond=0)
    store_readings(series(device, start, "v1", [230.0] * 60 + [262.0] * 60 + [230.0] * 60))
    roll_up()
    assert dry_run(rule(device=device, duration_s=0)).as_dict()["resolution"] == "raw"
    settings.TELEMETRY_RAW_RETENTION_DAYS = 2
    result = dry_run(rule(device=device, duration_s=0)).as_dict()
    assert (result["resolution"], result["readings"], result["would_open"]) == ("5min", 3, 1)
    assert result["busiest"][0]["first_at"] == (start + timedelta(minutes=10)).isoformat()
