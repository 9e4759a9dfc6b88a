"""Heartbeats: the snapshot stored on the device, coming back online, config applied, anomaly alerts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.core.events import DEVICE_STATUS_CHANGED, HEARTBEAT_RECEIVED
from acuvim_console.protocol.payloads import parse_heartbeat
from alerts.models import Alert, AlertType
from alerts.services import raise_alert
from devices.choices import CommandStatus, DeviceStatus
from devices.control.commands import send_command
from devices.control.config_push import push_config
from devices.health.heartbeats import handle_heartbeat
from devices.models import Command, DeviceStatusChange
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def beat(**overrides):
    document = {
        "ts": 1764000060,
        "fw": "1.2.1",
        "uptime": 3600,
        "boot": 17,
        "reset": "poweron",
        "heap": 91234,
        "heap_min": 60112,
        "conn": "gsm",
        "rssi": -67,
        "ip": "10.0.0.23",
        "hb_s": 30,
        "cfg": "c" * 64,
        "sd": {"ok": True, "queued": 12, "free_kb": 3800000},
        "modbus": {"ok": True, "errors": 0, "last_ok": 1764000055},
        "gsm": {"ok": True},
        "mqtt_reconnects": 2,
        "ota": {"state": "valid", "prev": "1.1.0"},
    }
    document.update(overrides)
    return parse_heartbeat(document)


def test_heartbeat_stores_the_health_snapshot(live_events, django_capture_on_commit_callbacks):
    device = make_device(last_heartbeat=None)
    live_events.follow(device.device_id)
    received = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        handle_heartbeat(device, beat(), received)
    device.refresh_from_db()
    assert (device.last_heartbeat, device.last_seen) == (received, received)
    assert device.firmware_version == "1.2.1" and device.connection_type == "gsm"
    assert (device.signal_strength, device.ip_address, device.boot_count, device.reset_reason) == (
        -67,
        "10.0.0.23",
        17,
        "poweron",
    )
    assert (device.uptime_s, device.heap_free, device.heap_min) == (3600, 91234, 60112)
    assert (device.sd_ok, device.sd_queued, device.sd_free_kb) == (True, 12, 3800000)
    assert (device.modbus_ok, device.modbus_errors, device.gsm_ok, device.mqtt_reconnects) == (True, 0, True, 2)
    assert (device.ota_state, device.ota_previous_version, device.heartbeat_interval) == ("valid", "1.1.0", 30)
    assert device.applied_config_hash == "c" * 64
    events = live_events.device()
    assert [name for name, _ in events] == [HEARTBEAT_RECEIVED]
    assert events[0][1]["heap_free"] == 91234


def test_absent_fields_keep_what_the_device_reported_before():
    device = make_device(ip_address="10.1.1.1", sd_queued=5)
    handle_heartbeat(device, parse_heartbeat({"ts": None, "uptime": 10}), timezone.now())
    device.refresh_from_db()
    assert (device.ip_address, device.sd_queued, device.uptime_s) == ("10.1.1.1", 5, 10)


def test_heartbeats_record_how_much_the_sd_queue_grew_and_forget_it_when_one_does_not_say():
    device = make_device(sd_queued=None)
    growth = []
    unreported = parse_heartbeat({"ts": None})
    for payload in (beat(), beat(sd={"queued": 40}), beat(sd={"queued": 4}), unreported, beat(sd={"queued": 9})):
        handle_heartbeat(device, payload, timezone.now())
        device.refresh_from_db()
        growth.append(device.sd_queue_growth)
    assert growth == [None, 28, -36, None, 5]  # nothing to compare the first with; the silent one is unknown


def test_heartbeat_after_offline_marks_device_online_resolves_offline_alert_and_delivers_commands(
    gateway, live_events, django_capture_on_commit_callbacks
):
    device = make_device(status=DeviceStatus.OFFLINE, last_heartbeat=timezone.now() - timedelta(hours=1))
    raise_alert(device, AlertType.DEVICE_OFFLINE, "critical", "gone")
    queued = send_command(device, "get_status")
    assert gateway.empty_after(0.2)

    with django_capture_on_commit_callbacks(execute=True):
        handle_heartbeat(device, beat(), timezone.now())

    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    change = DeviceStatusChange.objects.get(device=device)
    assert (change.from_status, change.to_status, change.reason) == ("offline", "online", "heartbeat")
    assert not Alert.objects.filter(device=device, resolved_at__isnull=True).exists()
    assert gateway.next()[1]["req"] == queued.request_id
    assert Command.objects.get(pk=queued.pk).status == CommandStatus.SENT
    assert (DEVICE_STATUS_CHANGED, "online") in [(name, data.get("status")) for name, data in live_events.fleet()]


def test_heartbeat_of_an_online_device_records_no_status_change():
    device = make_device()
    handle_heartbeat(device, beat(), timezone.now())
    assert not DeviceStatusChange.objects.exists()


def test_heartbeat_reporting_the_desired_config_hash_marks_it_applied(gateway):
    device = make_device()
    version, command = push_config(device, {"modbus": {"baud": 9600}, "wifi": {"ssid": "Plant-B", "password": "***"}})
    assert version.version == 1 and device.desired_config_hash == version.config_hash
    assert command.command == "set_config"
    assert command.params == {"modbus": {"baud": 9600}, "wifi": {"ssid": "Plant-B"}}

    handle_heartbeat(device, beat(cfg="d" * 64), timezone.now())
    version.refresh_from_db()
    assert version.applied_at is None

    applied = timezone.now()
    device = handle_heartbeat(device, beat(cfg=version.config_hash), applied)
    version.refresh_from_db()
    assert version.applied_at == applied and not device.config_drift

    second, _ = push_config(device, {"log_level": "debug"})
    assert second.version == 2 and second.document["modbus"]["baud"] == 9600
    device.refresh_from_db()
    assert device.config_drift


def test_anomalies_raise_console_alerts_and_clear_when_the_device_recovers(settings):
    settings.HEALTH_ANOMALIES = {**settings.HEALTH_ANOMALIES, "heap_low_bytes": 30 * 1024}
    device = make_device()
    now = timezone.now()
    handle_heartbeat(
        device,
        beat(heap=20 * 1024, reset="panic", uptime=30, boot=18, ota={"state": "rolled_back", "prev": "1.3.0"}),
        now,
    )
    open_alerts = {a.alert_type: a for a in Alert.objects.filter(device=device, resolved_at__isnull=True)}
    assert set(open_alerts) == {AlertType.LOW_HEAP, AlertType.UNEXPECTED_RESET, AlertType.OTA_ROLLED_BACK}
    assert open_alerts[AlertType.LOW_HEAP].source == "console"
    assert open_alerts[AlertType.OTA_ROLLED_BACK].metadata == {"prev": "1.3.0", "fw": "1.2.1"}

    # The same condition on the next heartbeat does not pile up occurrences.
    handle_heartbeat(
        device,
        beat(heap=20 * 1024, reset="panic", uptime=90, boot=18, ota={"state": "rolled_back", "prev": "1.3.0"}),
        now + timedelta(seconds=60),
    )
    assert Alert.objects.get(device=device, alert_type=AlertType.LOW_HEAP).occurrences == 1

    handle_heartbeat(device, beat(heap=90 * 1024, uptime=7200, boot=18), now + timedelta(hours=2))
    assert not Alert.objects.filter(device=device, resolved_at__isnull=True).exists()
    assert Alert.objects.filter(device=device).count() == 3


def test_modbus_errors_and_sd_backlog_growing_across_heartbeats():
    device = make_device()
    now = timezone.now()
    handle_heartbeat(device, beat(modbus={"ok": True, "errors": 1}, sd={"ok": True, "queued": 600}), now)
    assert not Alert.objects.exists()
    handle_heartbeat(
        device, beat(modbus={"ok": False, "errors": 9}, sd={"ok": True, "queued": 900}), now + timedelta(seconds=30)
    )
    assert set(Alert.objects.values_list("alert_type", flat=True)) == {AlertType.MODBUS_ERRORS, AlertType.SD_BACKLOG}
    handle_heartbeat(
        device, beat(modbus={"ok": True, "errors": 9}, sd={"ok": True, "queued": 10}), now + timedelta(seconds=60)
    )
    assert not Alert.objects.filter(resolved_at__isnull=True).exists()


def test_reboot_loop_across_heartbeats_raises_crash_loop(settings):
    settings.HEALTH_ANOMALIES = {**settings.HEALTH_ANOMALIES, "reboot_loop_boots": 3, "reboot_loop_window_s": 3600}
    device = make_device()
    now = timezone.now()
    for minute, boot in enumerate((20, 21, 22, 23)):
        handle_heartbeat(device, beat(boot=boot, reset="sw", uptime=30), now + timedelta(minutes=minute))
    crash = Alert.objects.get(device=device, alert_type=AlertType.CRASH_LOOP)
    assert crash.severity == "critical" and crash.value == 3


def test_heartbeat_closes_an_offline_alert_even_when_the_status_message_brought_the_device_back_first():
    device = make_device(status=DeviceStatus.ONLINE)
    raise_alert(device, AlertType.DEVICE_OFFLINE, "critical", "gone")
    handle_heartbeat(device, beat(), timezone.now())
    alert = Alert.objects.get(device=device, alert_type=AlertType.DEVICE_OFFLINE)
    assert alert.resolved_at is not None and alert.metadata["resolution"] == "cleared by heartbeat"


def test_push_config_refuses_a_bad_partial_config_and_stores_nothing():
    from acuvim_console.protocol.commands import CommandValidationError

    device = make_device()
    with pytest.raises(CommandValidationError) as caught:
        push_config(device, {"modbus": {"parity": "9Z9"}})
    assert caught.value.errors == {"modbus.parity": "must be one of 8N1, 8E1, 8O1, 8N2"}
    assert not device.configs.exists() and not Command.objects.exists()


def test_set_config_success_records_the_hash_the_device_applied(gateway, django_capture_on_commit_callbacks):
    from acuvim_console.protocol.payloads import parse_response
    from devices.control.commands import handle_response

    device = make_device()
    with django_capture_on_commit_callbacks(execute=True):
        version, command = push_config(device, {"log_level": "debug"})
    gateway.next()
    answered = timezone.now()
    handle_response(
        device,
        parse_response(
            {
                "req": command.request_id,
                "cmd": "set_config",
                "status": "success",
                "data": {"cfg": version.config_hash, "restart": False},
            }
        ),
        answered,
    )
    version.refresh_from_db()
    device.refresh_from_db()
    assert version.applied_at == answered and device.applied_config_hash == version.config_hash


def test_heap_leak_across_heartbeats_raises_heap_falling(settings):
    settings.HEALTH_ANOMALIES = {**settings.HEALTH_ANOMALIES, "heap_falling_heartbeats": 3, "heap_falling_bytes": 10240}
    device = make_device()
    now = timezone.now()
    for n, heap in enumerate((90_000, 86_000, 82_000, 78_000)):
        handle_heartbeat(device, beat(heap=heap), now + timedelta(minutes=n))
    leak = Alert.objects.get(device=device, alert_type=AlertType.HEAP_FALLING)
    assert leak.metadata == {"streak": 3, "fallen_bytes": 12_000}
    handle_heartbeat(device, beat(heap=95_000), now + timedelta(minutes=5))
    leak.refresh_from_db()
    assert leak.resolved_at is not None
