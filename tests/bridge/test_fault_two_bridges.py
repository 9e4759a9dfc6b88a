"""Two bridges at once, in one shared-subscription group or both subscribed to everything.

In a group the broker hands a device's messages to either bridge; without one, both bridges handle every
message. Either way every reading is stored once, and a device ends in the state of the last message it
sent, by its own timestamps: a heartbeat or status handled late by the other bridge must not override a
newer one.
"""

import time
import uuid

import pytest

from devices.choices import DeviceStatus
from devices.models import Device
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, wait_until
from tests.factories import make_device
from tests.support.metrics import metrics

ROUNDS = 15
DEVICES = 4


def _device_story(device_id: str, number: int, clock: float, start: float) -> tuple[list[tuple[str, dict]], dict]:
    """What one gateway sends, in order (telemetry, heartbeats, flapping presence), and how it must end.

    Even devices end with an offline status after their last heartbeat, odd ones with a heartbeat after it.
    """
    sent, state = [], {}
    for n in range(ROUNDS):
        clock += 0.01
        sent.append((f"acuvim/{device_id}/telemetry", messages.reading(start + n, seq=n)))
        sent.append((f"acuvim/{device_id}/heartbeat", messages.heartbeat(ts=clock, uptime=1000 + n, rssi=-50 - n)))
        state = {"uptime_s": 1000 + n, "signal_strength": -50 - n, "status": DeviceStatus.ONLINE}
        if n % 4 == 1:
            clock += 0.01
            presence = "offline" if n % 8 == 1 else "online"
            sent.append((f"acuvim/{device_id}/status", {"state": presence, "ts": clock}))
            state["status"] = presence
    clock += 0.01
    if number % 2 == 0:
        sent.append((f"acuvim/{device_id}/status", {"state": "offline", "ts": clock}))
        state["status"] = DeviceStatus.OFFLINE
    else:
        sent.append((f"acuvim/{device_id}/status", {"state": "offline", "ts": clock}))
        clock += 0.01
        sent.append((f"acuvim/{device_id}/heartbeat", messages.heartbeat(ts=clock, uptime=5000, rssi=-40)))
        state.update(uptime_s=5000, signal_strength=-40, status=DeviceStatus.ONLINE)
    return sent, state


@pytest.mark.parametrize("grouped", [True, False], ids=["shared-group", "no-group"])
def test_two_bridges_store_every_record_once_and_keep_each_devices_last_word(own_broker, start_bridge, grouped):
    """On a broker of its own: retained messages of other tests would add to what the bridges handle."""
    device_client = DeviceClient(own_broker.port)
    group = f"g{uuid.uuid4().hex[:6]}" if grouped else ""
    start_bridge(shared_group=group)
    start_bridge(shared_group=group)
    devices = [make_device() for _ in range(DEVICES)]
    start, clock = time.time() - 3600, time.time()
    stories = [_device_story(device.device_id, n, clock, start) for n, device in enumerate(devices)]
    # One burst, as a fleet reconnecting after an outage sends it: both bridges then hold work at once.
    mids = [device_client.publish(topic, payload) for sent, _ in stories for topic, payload in sent]
    device_client.wait_acknowledged(mids)
    device_client.close()

    total = DEVICES * ROUNDS
    handled = (1 if grouped else 2) * sum(len(sent) for sent, _ in stories)
    # Acknowledged means handled and committed (both bridges count into this process's metrics).
    wait_until(lambda: metrics.snapshot()["acked"] == handled, timeout=30)
    time.sleep(0.2)
    assert metrics.snapshot()["acked"] == handled
    assert TelemetryRecord.objects.count() == total
    assert metrics.snapshot()["stored"] == total, "each reading was stored once"
    for device, (_, expected) in zip(devices, stories, strict=True):
        stored = Device.objects.values(*expected).get(pk=device.pk)
        assert stored == expected, f"{device.device_id} did not end as its last message said"
