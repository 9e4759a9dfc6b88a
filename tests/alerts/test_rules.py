"""Alert rules on telemetry: durations, hysteresis, clear durations, escalation, races and restarts."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from acuvim_console.protocol.payloads import parse_heartbeat
from alerts.models import Alert, AlertRule, AlertRuleState, NoticeEvent, RulePhase
from alerts.rules import advance, evaluate_readings
from devices.health.heartbeats import handle_heartbeat
from tests.alerts.conftest import reading, series
from tests.bridge import messages
from tests.factories import make_device, make_group

pytestmark = pytest.mark.django_db


def make_rule(**fields) -> AlertRule:
    defaults = {"name": "V1 high", "field": "v1", "op": ">", "threshold": 250, "clear_threshold": 245,
                "duration_s": 10, "severity": "warning"}
    return AlertRule.objects.create(**{**defaults, **fields})


def open_alerts(rule):
    return Alert.objects.filter(rule=rule, resolved_at__isnull=True)


def test_no_alert_before_the_duration_and_one_once_it_has_held(now):
    device, rule = make_device(), make_rule(duration_s=10)
    evaluate_readings(series(device, now, "v1", [251, 255, 252]))  # 0 s, 5 s, 10 s ... the last one completes it
    alert = open_alerts(rule).get()
    assert alert.alert_type == f"rule_{rule.pk}" and alert.severity == "warning" and alert.value == 252
    assert alert.message == "V1 high: v1 = 252 (> 250 for 10 s)"
    evaluate_readings(series(device, now + timedelta(seconds=15), "v1", [260, 270]))
    assert open_alerts(rule).get().occurrences == 1  # still the same alert, not a repeat per reading


def test_a_breach_shorter_than_the_duration_opens_nothing(now):
    device, rule = make_device(), make_rule(duration_s=10)
    evaluate_readings(series(device, now, "v1", [251, 255, 240, 251, 252]))
    assert not Alert.objects.exists()
    assert AlertRuleState.objects.get(rule=rule, device=device).phase == RulePhase.PENDING


def test_hysteresis_keeps_the_alert_open_between_the_clear_threshold_and_the_threshold(now):
    device, rule = make_device(), make_rule(duration_s=0)
    evaluate_readings(series(device, now, "v1", [260, 248, 246]))
    assert open_alerts(rule).exists()
    evaluate_readings([reading(device, now + timedelta(seconds=20), v1=244.9)])
    alert = Alert.objects.get(rule=rule)
    assert alert.resolved_at is not None and "back within the clear threshold" in alert.metadata["resolution"]
    assert not AlertRuleState.objects.exists()


def test_clear_duration_resolves_only_once_the_value_has_stayed_clear(now):
    device, rule = make_device(), make_rule(duration_s=0, clear_duration_s=30)
    evaluate_readings(series(device, now, "v1", [260, 240, 240, 247, 240], every_s=10))  # back up at 30 s
    assert open_alerts(rule).exists()
    evaluate_readings([reading(device, now + timedelta(seconds=60), v1=240)])  # clear since 40 s: 20 s only
    assert open_alerts(rule).exists()
    evaluate_readings([reading(device, now + timedelta(seconds=70), v1=240)])
    assert not open_alerts(rule).exists()


def test_outside_a_band_breaches_on_either_side(now):
    device = make_device()
    rule = make_rule(field="f", op="outside", threshold=49.5, threshold_high=50.5, clear_threshold=49.8,
                     clear_threshold_high=50.2, duration_s=0)
    evaluate_readings(series(device, now, "f", [50.0, 49.4]))
    assert open_alerts(rule).exists()
    evaluate_readings(series(device, now + timedelta(seconds=10), "f", [49.7, 50.1]))  # 49.7: outside the clear band
    assert not open_alerts(rule).exists()
    evaluate_readings([reading(device, now + timedelta(seconds=30), f=50.6)])
    assert open_alerts(rule).exists()


def test_scope_device_group_and_fleet(now):
    group = make_group()
    inside, outside = make_device(group=group), make_device()
    group_rule = make_rule(name="group", group=group, duration_s=0)
    device_rule = make_rule(name="device", device=outside, field="i1", threshold=100, clear_threshold=None,
                            duration_s=0)
    fleet_rule = make_rule(name="fleet", field="pft", op="<", threshold=0.8, clear_threshold=0.85, duration_s=0)
    evaluate_readings([reading(inside, now, v1=260, i1=200, pft=0.5), reading(outside, now, v1=260, i1=200, pft=0.9)])
    assert set(Alert.objects.values_list("device__device_id", "rule__name")) == {
        (inside.device_id, group_rule.name),
        (outside.device_id, device_rule.name),
        (inside.device_id, fleet_rule.name),
    }


def test_redelivered_and_sd_replayed_readings_change_nothing(now):
    device, rule = make_device(), make_rule(duration_s=0)
    batch = series(device, now, "v1", [260])
    evaluate_readings(batch)
    evaluate_readings(batch)  # the broker redelivered the batch
    assert open_alerts(rule).get().occurrences == 1
    evaluate_readings([reading(device, now + timedelta(seconds=5), source="sd", v1=100)])
    assert open_alerts(rule).exists()


def test_a_disabled_rule_stops_evaluating_and_its_alert_is_resolved_by_the_pass(now):
    device, rule = make_device(), make_rule(duration_s=0)
    evaluate_readings(series(device, now, "v1", [260]))
    rule.enabled = False
    rule.save()
    assert advance()["retired"] == 1
    assert not open_alerts(rule).exists() and not AlertRuleState.objects.exists()
    evaluate_readings(series(device, now + timedelta(seconds=5), "v1", [260]))
    assert not open_alerts(rule).exists()


def test_the_periodic_pass_completes_the_duration_of_a_device_that_reports_seldom(now):
    device, rule = make_device(), make_rule(duration_s=10)
    evaluate_readings([reading(device, now, v1=260)])
    assert advance(now + timedelta(seconds=9))["opened"] == 0
    assert advance(now + timedelta(seconds=10))["opened"] == 1
    assert open_alerts(rule).exists()
    state = AlertRuleState.objects.get()
    assert state.phase == RulePhase.FIRING and state.since == now + timedelta(seconds=10) and state.last_ts == now


def test_the_periodic_pass_completes_a_clear_duration(now):
    device, rule = make_device(), make_rule(duration_s=0, clear_duration_s=60)
    evaluate_readings(series(device, now, "v1", [260, 240]))
    assert advance(now + timedelta(seconds=64))["resolved"] == 0
    assert advance(now + timedelta(seconds=65))["resolved"] == 1
    assert not open_alerts(rule).exists()


def test_escalation_raises_the_severity_once_and_notifies_again(now, webhook):
    from alerts.models import NotificationChannel

    receiver = webhook()
    channel = NotificationChannel.objects.create(name="ops", kind="webhook", url=receiver.url, min_severity="info")
    device = make_device()
    rule = make_rule(duration_s=0, escalate_after_s=300, escalate_to="critical")
    evaluate_readings(series(device, now, "v1", [260]))
    alert = open_alerts(rule).get()
    assert advance(alert.created_at + timedelta(seconds=299))["escalated"] == 0
    assert advance(alert.created_at + timedelta(seconds=300))["escalated"] == 1
    assert advance(alert.created_at + timedelta(seconds=900))["escalated"] == 0
    alert.refresh_from_db()
    assert alert.severity == "critical"
    events = list(channel.notices.order_by("id").values_list("event", "severity"))
    assert events == [(NoticeEvent.OPENED, "warning"), (NoticeEvent.ESCALATED, "critical")]


def test_a_rule_that_cannot_be_evaluated_never_stops_ingest(now, caplog):
    device = make_device()
    make_rule(duration_s=0)
    broken = reading(device, now, v1=260)
    broken.record = None  # what a bug upstream could hand over
    assert evaluate_readings([broken]) == 0
    assert "evaluating a telemetry batch failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_two_bridges_evaluating_the_same_device_at_once_open_one_alert(now):
    """Shared subscriptions spread one device's messages over bridges: each sees a breach, one alert opens."""
    device, rule = make_device(), make_rule(duration_s=0)
    batches = [series(device, now, "v1", [260, 261, 262]) for _ in range(4)]
    start = threading.Barrier(len(batches))

    def bridge(batch):
        start.wait()
        try:
            evaluate_readings(batch)
        finally:
            connection.close()

    threads = [threading.Thread(target=bridge, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    alert = Alert.objects.get(rule=rule)
    assert alert.occurrences == 1 and alert.resolved_at is None
    assert AlertRuleState.objects.get().phase == RulePhase.FIRING


def test_the_rule_index_loads_in_two_queries_however_many_rules_and_scopes(django_assert_num_queries):
    """Only the fields evaluation reads are loaded: one more read by CompiledRule would be a query per rule."""
    from alerts.rules import RuleSet, _telemetry_rules

    group = make_group()
    for n in range(5):
        make_rule(name=f"device {n}", device=make_device())
        make_rule(name=f"group {n}", group=group, op="outside", threshold=200, threshold_high=250,
                  clear_threshold=205, clear_threshold_high=245)
    make_rule(name="fleet", escalate_after_s=60, escalate_to="critical")
    with django_assert_num_queries(2):  # the rules with their devices' ids, the watched groups' members
        rules = RuleSet(_telemetry_rules())
    assert rules.count == 11


# --- health rules: the periodic pass computes the quantity from the device's record ---


def test_offline_longer_than_ten_minutes(now):
    away = make_device(status="offline", status_changed_at=now - timedelta(seconds=599))
    make_device(status="online")
    rule = make_rule(name="Offline 10 min", field="offline_s", op=">=", threshold=600, clear_threshold=None,
                     duration_s=0, severity="critical")
    assert advance(now)["health"] == 0
    advance(now + timedelta(seconds=1))
    alert = open_alerts(rule).get()
    assert alert.device_id == away.pk and alert.severity == "critical" and alert.value == 600
    away.status = "online"
    away.save()
    advance(now + timedelta(seconds=30))
    assert not open_alerts(rule).exists()


def test_heap_below_a_limit_for_a_while_and_not_while_offline(now):
    low = make_device(heap_free=20_000)
    gone = make_device(heap_free=10_000, status="offline", status_changed_at=now)
    rule = make_rule(name="Heap low", field="heap_free", op="<", threshold=30_000, clear_threshold=40_000,
                     duration_s=120)
    advance(now)
    assert not open_alerts(rule).exists()
    advance(now + timedelta(seconds=120))
    assert list(open_alerts(rule).values_list("device_id", flat=True)) == [low.pk]
    assert not AlertRuleState.objects.filter(device=gone).exists()


def test_an_sd_queue_that_does_not_drain_for_a_quarter_of_an_hour(now):
    stuck, draining = make_device(sd_queued=800), make_device(sd_queued=900)
    rule = make_rule(name="SD queue growing", field="sd_queued", op=">", threshold=500, clear_threshold=100,
                     duration_s=900)
    advance(now)
    draining.sd_queued = 300  # the backlog went out over GSM
    draining.save()
    advance(now + timedelta(seconds=600))
    assert not open_alerts(rule).exists()
    advance(now + timedelta(seconds=900))
    alert = open_alerts(rule).get()
    assert alert.device_id == stuck.pk and alert.message == "SD queue growing: sd_queued = 800 (> 500 for 900 s)"
    stuck.sd_queued = 200  # below the threshold, above the clear threshold: still open (hysteresis)
    stuck.save()
    advance(now + timedelta(seconds=960))
    assert open_alerts(rule).exists()
    stuck.sd_queued = 0
    stuck.save()
    advance(now + timedelta(seconds=1020))
    assert not open_alerts(rule).exists()


def test_an_sd_queue_growing_heartbeat_after_heartbeat_for_ten_minutes_opens_and_draining_does_not(now):
    growing, draining = make_device(sd_queued=0), make_device(sd_queued=900)
    rule = make_rule(name="SD queue growing", field="sd_queue_growth", op=">", threshold=0, clear_threshold=None,
                     duration_s=600)

    def heartbeats(minute, *queued):
        at = now + timedelta(minutes=minute)
        for device, records in zip((growing, draining), queued, strict=True):
            sd = {"ok": True, "queued": records, "free_kb": 3800000}
            handle_heartbeat(device, parse_heartbeat(messages.heartbeat(ts=at.timestamp(), sd=sd)), at)
        advance(at)

    for n in range(5):  # every 2 min: one gateway's backlog grows by 100, the other's goes out by 100
        heartbeats(2 * n, 100 * (n + 1), 900 - 100 * n)
    assert not open_alerts(rule).exists()
    heartbeats(10, 600, 400)
    alert = open_alerts(rule).get()
    assert alert.device_id == growing.pk
    assert alert.message == "SD queue growing: sd_queue_growth = 100 (> 0 for 600 s)"
    heartbeats(12, 550, 300)  # the link came back: the backlog goes out
    assert not open_alerts(rule).exists()


def test_a_rolled_back_ota_and_a_reboot_loop(now):
    rolled_back = make_device(ota_state="rolled_back")
    looping = make_device(boot_count=20, boot_window_started_at=now - timedelta(minutes=10),
                          boot_window_start_count=15)
    make_device(boot_count=20, boot_window_started_at=now - timedelta(days=1), boot_window_start_count=15)
    ota = make_rule(name="OTA failed", field="ota_rolled_back", op=">=", threshold=1, clear_threshold=None,
                    duration_s=0)
    loop = make_rule(name="Crash loop", field="boots_recent", op=">=", threshold=3, clear_threshold=None,
                     duration_s=0)
    advance(now)
    assert list(open_alerts(ota).values_list("device_id", flat=True)) == [rolled_back.pk]
    assert list(open_alerts(loop).values_list("device_id", flat=True)) == [looping.pk]


def test_gsm_data_budget_per_device_per_month_from_gsm_status_answers(now):
    from devices.models import Command

    heavy, light = make_device(), make_device()
    last_month = now.replace(day=1) - timedelta(days=2)
    answers = ((heavy, 40_000_000, now), (light, 2_000_000, now), (light, 90_000_000, last_month))
    for n, (device, used, at) in enumerate(answers):
        Command.objects.create(device=device, request_id=f"gsm-{n}", command="gsm_status", status="success",
                               completed_at=at, expires_at=at,
                               response={"present": True, "registered": True, "csq": 18, "bytes_month": used})
    rule = make_rule(name="GSM budget", field="gsm_bytes_month", op=">", threshold=30_000_000, clear_threshold=None,
                     duration_s=0)
    advance(now)
    alert = open_alerts(rule).get()
    assert alert.device_id == heavy.pk and alert.message == "GSM budget: gsm_bytes_month = 40,000,000 (> 30,000,000)"


def test_health_rules_do_not_run_on_telemetry(now):
    device = make_device(heap_free=1)
    make_rule(field="heap_free", op="<", threshold=30_000, clear_threshold=None, duration_s=0)
    evaluate_readings([reading(device, now, heap_free=5, v1=1)])
    assert not Alert.objects.exists()


def test_a_device_moved_into_a_watched_group_is_covered_after_the_reload(now, settings):
    settings.ALERT_RULES_RELOAD_S = 0
    group, device = make_group(), make_device()
    rule = make_rule(group=group, duration_s=0)
    evaluate_readings([reading(device, now, v1=260)])
    assert not open_alerts(rule).exists()
    device.group = group
    device.save()
    evaluate_readings([reading(device, now + timedelta(seconds=5), v1=260)])
    assert open_alerts(rule).exists()


# --- health rules at fleet scale: the pass reads only the devices whose state can move ---


def test_the_health_pass_reads_only_devices_crossing_the_threshold_or_recovering(now):
    from alerts.rules import health_candidates

    quiet = [make_device(status="online") for _ in range(5)]
    gone_long = make_device(status="offline", status_changed_at=now - timedelta(hours=2))
    gone_soon = make_device(status="offline", status_changed_at=now - timedelta(seconds=590))
    rule = make_rule(name="Offline 10 min", field="offline_s", op=">", threshold=600, clear_threshold=None,
                     duration_s=0)
    assert set(health_candidates(rule, now).values_list("pk", flat=True)) == {gone_long.pk}
    advance(now)
    assert not health_candidates(rule, now).exists()  # firing and still away: nothing to read
    later = now + timedelta(seconds=20)
    assert set(health_candidates(rule, later).values_list("pk", flat=True)) == {gone_soon.pk}  # crossed since
    advance(later)
    gone_long.status = "online"
    gone_long.save()
    assert set(health_candidates(rule, later).values_list("pk", flat=True)) == {gone_long.pk}  # recovered
    advance(later)
    assert set(open_alerts(rule).values_list("device_id", flat=True)) == {gone_soon.pk}
    assert quiet[0].pk not in set(health_candidates(rule, later + timedelta(days=1)).values_list("pk", flat=True))


@pytest.mark.parametrize(
    "quantity", ["offline_s", "heap_free", "sd_queued", "sd_queue_growth", "boots_recent", "ota_rolled_back"]
)
def test_the_sql_form_of_each_health_quantity_matches_its_value(now, quantity):
    """health_q (SQL on the columns) and health_values (Python on the row) agree for every comparison."""
    from alerts.rules import _HEALTH_COLUMNS, _MIRRORED, health_q, health_values
    from devices.models import Device

    window_start = now - timedelta(minutes=5)
    for n, status in enumerate(["online", "offline", "degraded", "offline", "online"]):
        make_device(status=status, status_changed_at=now - timedelta(seconds=300 * n) if n != 3 else None,
                    heap_free=[None, 20_000, 40_000, 5_000, 30_000][n], sd_queued=[0, 600, 10, None, 500][n],
                    sd_queue_growth=[3, 600, -40, None, 0][n],
                    boot_count=10 + n, boot_window_start_count=[None, 9, 8, 10, 7][n],
                    boot_window_started_at=[window_start, window_start, now - timedelta(days=1), window_start,
                                            window_start][n],
                    ota_state=["valid", "rolled_back", "", "pending_verify", "rolled_back"][n])
    rows = list(Device.objects.values(*_HEALTH_COLUMNS))
    values = health_values(quantity, rows, now)
    for op in (">", ">=", "<", "<=", "outside"):
        for limit in (-1, 0, 1, 3, 500, 600, 30_000):
            high = limit + 250 if op == "outside" else None
            if op == "outside":
                expected = {pk for pk, v in values.items() if v is not None and (v < limit or v > high)}
            else:
                expected = {pk for pk, v in values.items() if v is not None and _MIRRORED[op](limit, v)}
            matched = set(Device.objects.filter(health_q(quantity, op, limit, high, now)).values_list("pk", flat=True))
            assert matched == expected, (op, limit)
