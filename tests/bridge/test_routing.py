"""Every device topic end to end: a real client publishes to the private Mosquitto, the bridge stores it."""

import time
from datetime import timedelta

from django.utils import timezone

from alerts.models import Alert, AlertSource
from devices.choices import CommandStatus, DeviceStatus
from devices.models import Command, Device, DeviceStatusChange
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device, next_device_id
from tests.support.metrics import metrics


def test_registration_on_its_own_topic_creates_a_pending_device_with_its_inventory(bridge, device_client):
    device_id = next_device_id()
    device_client.send(f"devices/register/{device_id}", messages.registration(device_id, fw="1.3.0"))

    device = wait_until(lambda: Device.objects.filter(device_id=device_id).first())
    assert device.status == DeviceStatus.PENDING
    assert device.firmware_version == "1.3.0"
    assert device.hardware == "TTGO T-Call v1.4"
    assert device.imei == "861234567890123"
    assert device.capabilities == ["wifi", "gsm", "sd", "modbus"]
    assert device.meter["baud"] == 19200
    assert device.boot_count == 17
    assert device.registered_at is not None


def test_registration_on_the_bare_topic_takes_the_id_from_the_payload(bridge, device_client):
    device = make_device(status=DeviceStatus.OFFLINE, firmware_version="1.0.0")
    device_client.send("devices/register", messages.registration(device.device_id, fw="1.2.5"))

    wait_until(lambda: Device.objects.get(pk=device.pk).firmware_version == "1.2.5")
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    assert DeviceStatusChange.objects.filter(device=device, to_status=DeviceStatus.ONLINE).exists()


def test_status_online_and_lwt_offline_move_the_device(bridge, device_client):
    device = make_device(status=DeviceStatus.OFFLINE)
    topic = f"acuvim/{device.device_id}/status"
    device_client.send(topic, {"state": "online", "ts": time.time(), "conn": "gsm"}, retain=True)
    wait_until(lambda: Device.objects.get(pk=device.pk).status == DeviceStatus.ONLINE)
    assert Device.objects.get(pk=device.pk).connection_type == "gsm"

    device_client.send(topic, {"state": "offline", "reason": "lwt"}, retain=True)
    wait_until(lambda: Device.objects.get(pk=device.pk).status == DeviceStatus.OFFLINE)
    change = DeviceStatusChange.objects.filter(device=device).first()
    assert change.to_status == DeviceStatus.OFFLINE and "lwt" in change.reason
    device_client.send(topic, b"", retain=True)  # clear the retained message


def test_heartbeat_updates_the_health_snapshot(bridge, device_client):
    device = make_device(status=DeviceStatus.ONLINE, last_heartbeat=None)
    device_client.send(f"acuvim/{device.device_id}/heartbeat", messages.heartbeat(heap=80000, rssi=-70))

    wait_until(lambda: Device.objects.get(pk=device.pk).last_heartbeat is not None)
    device.refresh_from_db()
    assert device.heap_free == 80000
    assert device.signal_strength == -70
    assert device.ip_address == "10.0.0.23"


def test_single_record_and_gsm_batch_are_stored_with_their_columns(bridge, device_client):
    device = make_device()
    topic = f"acuvim/{device.device_id}/telemetry"
    now = time.time()
    device_client.send(topic, messages.reading(now - 60, seq=1, f=49.98, extra_field="kept"))
    device_client.send(topic, [messages.reading(now - 50 + i, seq=2 + i, conn="gsm") for i in range(6)])

    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 7)
    first = TelemetryRecord.objects.get(device=device, seq=1)
    assert first.frequency == 49.98
    assert first.voltage_avg == 230.3 and first.current_avg == 10.03
    assert first.power_total == 6770.7 and first.power_factor == 0.99
    assert first.extra == {"extra_field": "kept"}
    assert not first.ts_estimated
    device.refresh_from_db()
    assert device.last_telemetry == TelemetryRecord.objects.filter(device=device).order_by("-ts").first().ts
    assert device.connection_type == "gsm"


def test_record_without_clock_gets_the_receive_time_and_is_flagged(bridge, device_client):
    device = make_device()
    before = timezone.now()
    device_client.send(f"acuvim/{device.device_id}/telemetry", messages.reading(None))

    record = wait_until(lambda: TelemetryRecord.objects.filter(device=device).first())
    assert record.ts_estimated
    assert before - timedelta(seconds=1) <= record.ts <= timezone.now()


def test_device_alert_raised_then_cleared(bridge, device_client):
    device = make_device()
    topic = f"acuvim/{device.device_id}/alerts"
    raised = {"ts": time.time(), "type": "overvoltage", "sev": "warning", "state": "raised", "msg": "V1 above 253 V"}
    device_client.send(topic, {**raised, "val": 254.2, "thr": 253.0})
    alert = wait_until(lambda: Alert.objects.filter(device=device, alert_type="overvoltage").first())
    assert alert.source == AlertSource.DEVICE and alert.value == 254.2 and alert.threshold == 253.0

    device_client.send(topic, {**raised, "state": "cleared"})
    wait_until(lambda: Alert.objects.get(pk=alert.pk).resolved_at is not None)


def test_command_response_completes_the_command(bridge, device_client):
    device = make_device()
    command = Command.objects.create(
        device=device,
        request_id="req-routing-1",
        command="ping",
        status=CommandStatus.SENT,
        sent_at=timezone.now(),
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    answer = {"req": "req-routing-1", "cmd": "ping", "status": "success", "data": {"uptime": 42}, "ts": time.time()}
    device_client.send(f"acuvim/{device.device_id}/resp", answer)

    wait_until(lambda: Command.objects.get(pk=command.pk).status == CommandStatus.SUCCESS)
    assert Command.objects.get(pk=command.pk).response == {"uptime": 42}
    assert metrics.snapshot()["received"]["resp"] == 1
