"""Mosquitto restarted under the bridge: what it queued survives (persistence, durable config), nothing twice.

The broker is this test's own, configured like production (deploy/mosquitto/conf.d) with persistence
on, so stopping it is a real broker restart and not a reconnect to the session broker of the suite.
"""

import time

from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, telemetry_table_locked, wait_until
from tests.factories import make_device
from tests.support.metrics import metrics

PER_PHASE = 60


def _publish(publisher: DeviceClient, device, start: float, numbers: range) -> list[int]:
    topic = f"acuvim/{device.device_id}/telemetry"
    return [publisher.publish(topic, messages.reading(start + n, seq=n)) for n in numbers]


def test_messages_queued_for_an_offline_bridge_and_sent_while_the_broker_was_down_are_all_stored_once(
    own_broker, start_bridge
):
    device = make_device()
    start = time.time() - 3600
    client_id = "restart-bridge"
    publisher = DeviceClient(own_broker.port)
    try:
        bridge = start_bridge(client_id=client_id)
        publisher.wait_acknowledged(_publish(publisher, device, start, range(PER_PHASE)))
        wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == PER_PHASE)
        bridge.stop()  # its session stays in the broker, which now queues for it

        publisher.wait_acknowledged(_publish(publisher, device, start, range(PER_PHASE, 2 * PER_PHASE)))
        own_broker.stop()  # a clean shutdown writes the queues to the persistence file
        sent_while_down = _publish(publisher, device, start, range(2 * PER_PHASE, 3 * PER_PHASE))
        time.sleep(0.5)
        assert not publisher.acknowledged(sent_while_down), "the broker was down"
        own_broker.start()
        publisher.wait_acknowledged(sent_while_down, timeout=20)
        assert TelemetryRecord.objects.filter(device=device).count() == PER_PHASE, "no bridge was connected"

        metrics.reset()
        start_bridge(client_id=client_id)  # same client id: the session the broker kept across its restart
        wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 3 * PER_PHASE, timeout=20)
        time.sleep(0.5)
        assert TelemetryRecord.objects.filter(device=device).count() == 3 * PER_PHASE
        assert metrics.snapshot()["stored"] == 2 * PER_PHASE, "each queued message was delivered and stored once"
    finally:
        publisher.close()


def test_a_batch_in_flight_when_the_broker_restarts_is_redelivered_and_stored_once(own_broker, start_bridge, settings):
    """The bridge cannot commit (table locked) while the broker restarts: its acks for the old connection
    are void, the broker redelivers those messages to the resumed session, and the second copy is a no-op."""
    settings.MQTT_RECONNECT_MIN_S = 1
    settings.MQTT_RECONNECT_MAX_S = 2
    bridge = start_bridge()
    device = make_device()
    start = time.time() - 3600
    publisher = DeviceClient(own_broker.port)
    try:
        with telemetry_table_locked():
            publisher.wait_acknowledged(_publish(publisher, device, start, range(PER_PHASE)))
            wait_until(lambda: metrics.snapshot()["received"]["telemetry"] == PER_PHASE)
            own_broker.restart()
            wait_until(lambda: bridge.connected.is_set(), timeout=20)
            during = _publish(publisher, device, start, range(PER_PHASE, 2 * PER_PHASE))
        publisher.wait_acknowledged(during, timeout=20)
        wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 2 * PER_PHASE, timeout=20)
        wait_until(lambda: metrics.snapshot()["duplicates"] >= PER_PHASE, timeout=10)
        snapshot = metrics.snapshot()
        assert snapshot["acks_skipped_after_reconnect"] >= PER_PHASE, "acks of the old connection are void"
        assert snapshot["stored"] == 2 * PER_PHASE
        assert TelemetryRecord.objects.filter(device=device).count() == 2 * PER_PHASE
    finally:
        publisher.close()


def test_messages_queued_behind_a_blocked_batch_when_the_broker_restarts_are_left_to_their_redelivered_copies(
    own_broker, start_bridge, settings
):
    """The resumed session redelivers everything unacknowledged, so the old connection's queued messages are
    skipped (counted), not written a second time: handling both copies is what made a reconnect during a
    catch-up snowball (each copy waited behind the other, past the keepalive, into the next reconnect)."""
    settings.MQTT_RECONNECT_MIN_S = 1
    settings.MQTT_RECONNECT_MAX_S = 2
    settings.MQTT_BATCH_SIZE = 50
    readings = 10 * settings.MQTT_BATCH_SIZE
    bridge = start_bridge()
    device = make_device()
    start = time.time() - 3600
    publisher = DeviceClient(own_broker.port, max_inflight=100)
    try:
        with telemetry_table_locked():
            mids = _publish(publisher, device, start, range(readings))
            mids.append(publisher.publish(f"acuvim/{device.device_id}/heartbeat", messages.heartbeat()))
            publisher.wait_acknowledged(mids, timeout=20)
            wait_until(lambda: metrics.snapshot()["received_total"] == readings + 1)
            own_broker.restart()
            wait_until(lambda: bridge.connected.is_set(), timeout=20)
        wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == readings, timeout=30)
        wait_until(lambda: metrics.snapshot().get("redelivered_skipped", 0) >= readings - settings.MQTT_BATCH_SIZE)
        snapshot = metrics.snapshot()
        assert snapshot.get("duplicates", 0) <= settings.MQTT_BATCH_SIZE, "only the batch being written went twice"
        assert snapshot["stored"] == readings
    finally:
        publisher.close()
