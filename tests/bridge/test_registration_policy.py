"""Who gets in: pending by default, auto-accept, pre-provisioned devices; decommissioned data is dropped."""

import time

from devices.choices import DeviceStatus
from devices.models import Device
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device, next_device_id
from tests.support.metrics import metrics


def _register(device_client, device_id):
    device_client.send(f"devices/register/{device_id}", messages.registration(device_id))
    return wait_until(lambda: Device.objects.filter(device_id=device_id, registered_at__isnull=False).first())


def test_unknown_device_is_pending_and_its_data_is_dropped_and_counted(bridge, device_client):
    device = _register(device_client, next_device_id())
    assert device.status == DeviceStatus.PENDING
    device_client.send(f"acuvim/{device.device_id}/telemetry", messages.reading(time.time()))
    device_client.send(f"acuvim/{device.device_id}/heartbeat", messages.heartbeat())

    wait_until(lambda: metrics.snapshot()["dropped"].get("pending") == 2)
    assert TelemetryRecord.objects.count() == 0
    assert Device.objects.get(pk=device.pk).last_heartbeat is None


def test_auto_accept_brings_new_devices_online(bridge, device_client, settings):
    settings.DEVICE_AUTO_ACCEPT = True
    device = _register(device_client, next_device_id())
    wait_until(lambda: Device.objects.get(pk=device.pk).status == DeviceStatus.ONLINE)
    device.refresh_from_db()
    assert device.approved_at is not None
    assert device.status_changes.get().reason == "auto-accepted"


def test_preprovisioned_device_is_accepted_on_first_registration(bridge, device_client):
    device = make_device(status=DeviceStatus.PENDING, preprovisioned=True, approved_at=None)
    _register(device_client, device.device_id)
    wait_until(lambda: Device.objects.get(pk=device.pk).status == DeviceStatus.ONLINE)
    assert device.status_changes.get().reason == "pre-provisioned"


def test_decommissioned_device_stays_out_and_its_data_is_dropped(bridge, device_client):
    device = make_device(status=DeviceStatus.DECOMMISSIONED, firmware_version="1.0.0")
    device_client.send(f"devices/register/{device.device_id}", messages.registration(device.device_id, fw="9.9.9"))
    device_client.send(f"acuvim/{device.device_id}/telemetry", messages.reading(time.time()))
    device_client.send(f"acuvim/{device.device_id}/status", {"state": "online", "ts": time.time()})

    wait_until(lambda: metrics.snapshot()["dropped"].get("decommissioned") == 3)
    device.refresh_from_db()
    assert device.status == DeviceStatus.DECOMMISSIONED
    assert device.firmware_version == "1.0.0"
    assert TelemetryRecord.objects.count() == 0
