"""Two bridges in one MQTT v5 shared-subscription group split the telemetry and store each reading once."""

import time
import uuid

from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device
from tests.support.metrics import metrics


def test_two_bridges_in_a_group_split_the_stream_without_duplicates(start_bridge, device_client):
    group = f"g{uuid.uuid4().hex[:6]}"
    first, second = start_bridge(shared_group=group), start_bridge(shared_group=group)
    received = {first: 0, second: 0}
    for bridge in (first, second):
        submit = bridge.telemetry.submit

        def counting_submit(message, bridge=bridge, submit=submit):
            received[bridge] += 1
            return submit(message)

        bridge.telemetry.submit = counting_submit
    devices = [make_device() for _ in range(4)]
    start = time.time() - 3600
    for n in range(200):
        device = devices[n % 4]
        device_client.send(f"acuvim/{device.device_id}/telemetry", messages.reading(start + n, seq=n))

    wait_until(lambda: TelemetryRecord.objects.count() == 200)
    time.sleep(0.3)
    snapshot = metrics.snapshot()  # both bridges share this process's counters
    assert snapshot["received"]["telemetry"] == 200, "each message went to exactly one bridge of the group"
    assert snapshot["duplicates"] == 0
    assert received[first] > 0 and received[second] > 0, f"the load was not split: {list(received.values())}"
    assert received[first] + received[second] == 200
