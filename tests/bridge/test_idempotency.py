"""A record is stored once per (device, ts), however often it arrives."""

import time

from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device
from tests.support.metrics import metrics


def test_duplicate_delivery_stores_nothing_twice(bridge, device_client):
    device = make_device()
    record = messages.reading(time.time() - 30, seq=7)
    for _ in range(3):
        device_client.send(f"acuvim/{device.device_id}/telemetry", record)

    wait_until(lambda: metrics.snapshot()["stored"] + metrics.snapshot()["duplicates"] == 3)
    assert TelemetryRecord.objects.filter(device=device).count() == 1
    assert metrics.snapshot()["duplicates"] == 2


def test_sd_replay_of_stored_records_adds_only_the_missing_ones(bridge, device_client):
    device = make_device()
    topic = f"acuvim/{device.device_id}/telemetry"
    start = time.time() - 3600
    for i in range(0, 10, 2):  # the live records that made it before the outage
        device_client.send(topic, messages.reading(start + i * 5, seq=i))
    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 5)

    replay = [messages.reading(start + i * 5, seq=i, src="sd") for i in range(10)]
    device_client.send(topic, replay[:6])
    device_client.send(topic, replay[6:])

    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 10)
    time.sleep(0.2)
    assert TelemetryRecord.objects.filter(device=device).count() == 10
    assert TelemetryRecord.objects.filter(device=device, source="sd").count() == 5
    assert metrics.snapshot()["duplicates"] == 5
