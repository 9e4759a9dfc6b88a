"""The heartbeat anomaly rules, on plain values: when each alert is raised, cleared or left alone."""

from datetime import UTC, datetime, timedelta

from alerts.models import AlertType
from devices.health.anomalies import Previous, assess

LIMITS = {
    "reboot_loop_boots": 3,
    "reboot_loop_window_s": 3600,
    "heap_low_bytes": 30 * 1024,
    "heap_falling_heartbeats": 3,
    "heap_falling_bytes": 10 * 1024,
    "modbus_errors_growth": 3,
    "sd_backlog_records": 500,
}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def verdicts(previous, beat, at=T0):
    result = assess(previous, beat, at, LIMITS)
    return {finding.alert_type: finding.active for finding in result.findings}, result


def test_healthy_heartbeat_clears_everything_it_can_judge():
    found, _ = verdicts(
        Previous(heap_free=90000, modbus_errors=2, sd_queued=0, ota_state="valid"),
        {
            "boot_count": 17,
            "reset_reason": "poweron",
            "uptime_s": 4000,
            "heap_free": 91000,
            "modbus_errors": 2,
            "modbus_ok": True,
            "sd_queued": 0,
            "ota_state": "valid",
        },
    )
    assert found == {
        AlertType.CRASH_LOOP: False,
        AlertType.UNEXPECTED_RESET: False,
        AlertType.LOW_HEAP: False,
        AlertType.HEAP_FALLING: False,
        AlertType.MODBUS_ERRORS: False,
        AlertType.SD_BACKLOG: False,
        AlertType.OTA_ROLLED_BACK: False,
    }


def test_missing_values_skip_their_rules():
    found, result = verdicts(Previous(), {})
    assert found == {} and result.state == {}


def test_reboot_loop_counts_boots_within_the_window():
    previous = Previous()
    for minute, boot in enumerate((10, 11, 12)):
        found, result = verdicts(previous, {"boot_count": boot}, T0 + timedelta(minutes=minute))
        previous = Previous(
            boot_window_started_at=result.state.get("boot_window_started_at", previous.boot_window_started_at),
            boot_window_start_count=result.state.get("boot_window_start_count", previous.boot_window_start_count),
        )
        assert found[AlertType.CRASH_LOOP] is False
    found, result = verdicts(previous, {"boot_count": 13, "reset_reason": "wdt"}, T0 + timedelta(minutes=5))
    assert found[AlertType.CRASH_LOOP] is True
    crash = next(f for f in result.findings if f.alert_type == AlertType.CRASH_LOOP)
    assert crash.value == 3 and crash.message == "rebooted 3 times in 5 min (last reset: wdt)"
    # An hour later the window starts again from the current boot count: the loop has cleared.
    found, result = verdicts(previous, {"boot_count": 13}, T0 + timedelta(hours=2))
    assert found[AlertType.CRASH_LOOP] is False
    assert result.state == {"boot_window_started_at": T0 + timedelta(hours=2), "boot_window_start_count": 13}


def test_crash_resets_raise_unexpected_reset_until_the_device_stays_up():
    found, result = verdicts(Previous(), {"reset_reason": "brownout", "uptime_s": 60, "boot_count": 4})
    assert found[AlertType.UNEXPECTED_RESET] is True
    assert result.findings[-1].metadata == {"reset": "brownout", "boot": 4}
    assert verdicts(Previous(), {"reset_reason": "brownout", "uptime_s": 7200})[0][AlertType.UNEXPECTED_RESET] is False
    assert verdicts(Previous(), {"reset_reason": "sw", "uptime_s": 5})[0][AlertType.UNEXPECTED_RESET] is False


def test_low_heap_threshold():
    found, result = verdicts(Previous(), {"heap_free": 20 * 1024})
    assert found[AlertType.LOW_HEAP] is True
    low = result.findings[0]
    assert (low.value, low.threshold) == (20 * 1024, 30 * 1024)
    assert verdicts(Previous(), {"heap_free": 40 * 1024})[0][AlertType.LOW_HEAP] is False


def falling(previous, heap):
    found, result = verdicts(previous, {"heap_free": heap})
    return found.get(AlertType.HEAP_FALLING), Previous(heap_free=heap, **result.state)


def test_heap_falling_needs_consecutive_drops_adding_up_to_a_real_amount_and_clears_when_it_rises():
    previous, seen = Previous(heap_free=100_000), []
    for heap in (96_000, 92_000, 88_000):
        verdict, previous = falling(previous, heap)
        seen.append(verdict)
    assert seen == [None, None, True]  # 3 drops, 12,000 bytes in total
    assert falling(previous, 88_000)[0] is True  # flat does not break the streak
    verdict, after_rise = falling(previous, 93_000)
    assert verdict is False and after_rise.heap_decline_streak == 0 and after_rise.heap_decline_start is None


def test_a_noisy_heap_that_drops_a_little_each_time_is_not_a_leak():
    previous, seen = Previous(heap_free=100_000), []
    for heap in (99_000, 98_000, 97_000, 96_000, 95_000):
        verdict, previous = falling(previous, heap)
        seen.append(verdict)
    assert seen == [None] * 5  # a streak of 5, but only 5,000 bytes


def test_modbus_errors_growth_and_counter_reset_after_reboot():
    assert verdicts(Previous(modbus_errors=10), {"modbus_errors": 14})[0][AlertType.MODBUS_ERRORS] is True
    assert verdicts(Previous(modbus_errors=10), {"modbus_errors": 11})[0].get(AlertType.MODBUS_ERRORS) is None
    assert verdicts(Previous(modbus_errors=10), {"modbus_errors": 10})[0][AlertType.MODBUS_ERRORS] is False
    # After a reboot the counter starts again: 5 errors since the reboot is growth of 5.
    assert verdicts(Previous(modbus_errors=50), {"modbus_errors": 5})[0][AlertType.MODBUS_ERRORS] is True
    still_failing = verdicts(Previous(modbus_errors=10), {"modbus_errors": 10, "modbus_ok": False})[0]
    assert AlertType.MODBUS_ERRORS not in still_failing


def test_sd_backlog_raised_while_large_and_growing_cleared_when_small():
    assert verdicts(Previous(sd_queued=600), {"sd_queued": 700})[0][AlertType.SD_BACKLOG] is True
    assert verdicts(Previous(sd_queued=800), {"sd_queued": 700})[0].get(AlertType.SD_BACKLOG) is None
    assert verdicts(Previous(sd_queued=800), {"sd_queued": 100})[0][AlertType.SD_BACKLOG] is False


def test_ota_rollback_raised_once_with_prev_and_cleared_by_a_valid_image():
    found, result = verdicts(
        Previous(ota_state="pending_verify"),
        {"ota_state": "rolled_back", "ota_previous_version": "1.3.0", "firmware_version": "1.2.0"},
    )
    assert found[AlertType.OTA_ROLLED_BACK] is True
    assert result.findings[0].metadata == {"prev": "1.3.0", "fw": "1.2.0"}
    assert verdicts(Previous(ota_state="rolled_back"), {"ota_state": "rolled_back"})[0] == {}
    assert verdicts(Previous(ota_state="rolled_back"), {"ota_state": "valid"})[0][AlertType.OTA_ROLLED_BACK] is False
