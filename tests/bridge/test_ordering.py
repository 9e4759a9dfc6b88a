"""A device's messages are handled in the order the broker delivered them, whatever their topics."""

import threading
import time

from acuvim_console.bridge.device_order import NOTHING, DeviceOrder
from acuvim_console.bridge.directory import DeviceDirectory
from acuvim_console.bridge.metrics import snapshot as bridge_snapshot
from devices.models import Device
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, wait_until
from tests.factories import make_device, next_device_id
from tests.support.metrics import metrics

DEVICES = 20


def test_a_new_gateways_first_readings_sent_right_after_its_registration_are_stored(bridge, device_client, settings):
    settings.DEVICE_AUTO_ACCEPT = True
    device_ids = [next_device_id() for _ in range(DEVICES)]
    now = time.time()
    for device_id in device_ids:  # what a gateway does on boot: register, then publish at once
        device_client.send(f"devices/register/{device_id}", messages.registration(device_id), qos=0)
        for n in range(5):
            device_client.send(f"acuvim/{device_id}/telemetry", messages.reading(now - 10 + n, seq=n), qos=0)

    wait_until(lambda: TelemetryRecord.objects.count() == DEVICES * 5, timeout=20)
    assert "unknown_device" not in metrics.snapshot()["rejected"]
    assert Device.objects.filter(device_id__in=device_ids, status="online").count() == DEVICES


def test_a_heartbeat_right_after_a_bare_registration_is_applied(bridge, device_client, settings):
    settings.DEVICE_AUTO_ACCEPT = True
    device_ids = [next_device_id() for _ in range(DEVICES)]
    for device_id in device_ids:  # the seed's bare topic: the id is only in the payload
        device_client.send("devices/register", messages.registration(device_id), qos=0)
        device_client.send(f"acuvim/{device_id}/heartbeat", messages.heartbeat(rssi=-51), qos=0)

    wait_until(lambda: Device.objects.filter(device_id__in=device_ids, signal_strength=-51).count() == DEVICES)
    assert metrics.snapshot()["rejected"] == {}


def test_readings_sent_before_a_registration_are_handled_before_it(bridge, device_client, settings):
    """Delivery order, not lane speed, decides: a reading that overtook its registration would be stored."""
    settings.DEVICE_AUTO_ACCEPT = True
    device_ids = [next_device_id() for _ in range(DEVICES)]
    for device_id in device_ids:
        device_client.send(f"acuvim/{device_id}/telemetry", messages.reading(time.time()), qos=0)
        device_client.send(f"devices/register/{device_id}", messages.registration(device_id), qos=0)

    wait_until(lambda: Device.objects.filter(device_id__in=device_ids).count() == DEVICES)
    wait_until(lambda: metrics.snapshot()["rejected"] == {"unknown_device": DEVICES})
    assert TelemetryRecord.objects.count() == 0


def test_readings_wait_for_the_control_message_they_arrived_behind():
    order = DeviceOrder()
    register, _ = order.control_arrived("ACV-A", holds_readings=True)
    reading, after = order.telemetry_arrived("ACV-A")
    _, other_after = order.telemetry_arrived("ACV-B")
    assert after == register and other_after == NOTHING
    assert not order.telemetry_ready("ACV-A", after)
    assert order.telemetry_ready("ACV-B", other_after)
    order.control_done("ACV-A", register)
    assert order.telemetry_ready("ACV-A", after)
    later, _ = order.control_arrived("ACV-A", holds_readings=True)  # a newer one does not hold an older reading
    assert order.telemetry_ready("ACV-A", after)
    assert later > reading


def test_a_heartbeat_does_not_hold_the_readings_after_it():
    """Only a registration decides how a reading is stored; a replay with a heartbeat every dozen readings
    must not be written a dozen rows a batch."""
    order = DeviceOrder()
    order.control_arrived("ACV-A", holds_readings=False)
    _, after = order.telemetry_arrived("ACV-A")
    assert after == NOTHING and order.telemetry_ready("ACV-A", after)


def test_a_control_message_waits_until_the_writer_has_handled_earlier_readings():
    order, stop = DeviceOrder(), threading.Event()
    reading, _ = order.telemetry_arrived("ACV-A")
    _, after = order.control_arrived("ACV-A", holds_readings=False)
    assert after == reading
    done = threading.Event()
    waiter = threading.Thread(target=lambda: order.wait_for_telemetry("ACV-A", after, stop) and done.set())
    waiter.start()
    order.telemetry_progress(reading, held_from={"ACV-A": reading})  # written past it, but this one is held
    assert not done.wait(0.3)
    order.telemetry_progress(reading, held_from={})
    assert done.wait(2)
    waiter.join()


def test_a_waiting_control_message_gives_up_when_the_bridge_stops():
    order, stop = DeviceOrder(), threading.Event()
    order.telemetry_arrived("ACV-A")
    _, after = order.control_arrived("ACV-A", holds_readings=False)
    stop.set()
    assert order.wait_for_telemetry("ACV-A", after, stop) is False


class _RacingDirectory(DeviceDirectory):
    """Commits a registration (and forgets the device) while a lookup is reading, as the workers can."""

    def __init__(self, device_id):
        super().__init__()
        self.device_id = device_id

    def _lookup(self, device_ids):
        found = super()._lookup(device_ids)  # read before the registration committed: unknown
        if not Device.objects.filter(device_id=self.device_id).exists():
            make_device(device_id=self.device_id)
            self.forget(self.device_id)
        return found


def test_the_directory_does_not_cache_an_unknown_read_while_the_device_registered(transactional_db):
    device_id = next_device_id()
    directory = _RacingDirectory(device_id)
    assert directory.resolve({device_id}) == {device_id: (None, None)}  # this batch read before the commit
    assert directory.resolve({device_id})[device_id][0] is not None  # the next one must not see a cached "unknown"


def test_a_backlog_replayed_with_a_heartbeat_every_dozen_readings_is_written_in_full_batches(
    own_broker, start_bridge
):
    """What three gateways replaying their SD cards send to a bridge that was away (the soak's catch-up):
    readings are not held behind heartbeats, so the writer's batches are full, not a dozen rows a device."""
    devices, readings = 3, 1500
    device_ids = [make_device().device_id for _ in range(devices)]
    start_bridge(client_id="backlog-bridge").stop()  # its persistent session queues what follows
    publisher = DeviceClient(own_broker.port, max_inflight=1000)
    try:
        start, mids = time.time() - readings * 5, []
        for n in range(1, readings + 1):
            for device_id in device_ids:
                mids.append(publisher.publish(f"acuvim/{device_id}/telemetry", messages.reading(start + 5 * n, seq=n)))
                if n % 12 == 0:
                    mids.append(publisher.publish(f"acuvim/{device_id}/heartbeat", messages.heartbeat()))
        publisher.wait_acknowledged(mids[-1000:], timeout=60)
    finally:
        publisher.close()
    metrics.reset()
    batches_before = bridge_snapshot()["batch_size"]["count"]
    start_bridge(client_id="backlog-bridge")
    wait_until(lambda: TelemetryRecord.objects.count() == devices * readings, timeout=120, interval=0.2)
    assert metrics.snapshot().get("held_for_order", 0) == 0
    assert bridge_snapshot()["batch_size"]["count"] - batches_before <= devices * readings / 100
