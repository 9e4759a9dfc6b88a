"""Zero loss across a bridge crash: SIGKILL with a batch received but not acknowledged, restart, all stored once."""

import time
import uuid

import paho.mqtt.client as mqtt
from django.db.models import Count
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, telemetry_table_locked, wait_until
from tests.factories import make_device

BEFORE, AT_KILL = 150, 300  # readings stored before the crash, and readings unacknowledged when it comes
STORE_COUNT = "$SYS/broker/store/messages/count"


class BrokerStore:
    """The broker's own count of the messages it still holds: published to it, not yet acknowledged to it.

    Mosquitto publishes the count (retained, at most every `sys_interval`, only when it changed).
    """

    def __init__(self, port: int):
        self.count: int | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda client, *_: client.subscribe(STORE_COUNT)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(lambda: self.count is not None)

    def _on_message(self, client, userdata, message):
        self.count = int(message.payload)

    def settled(self) -> int:
        """The count once the broker has had the time to publish its latest value."""
        time.sleep(1.5)
        return self.count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _blocked_writers(blocker) -> int:
    """Sessions waiting for the telemetry table: a batch that was received and cannot commit."""
    return blocker.execute(
        "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
        (TelemetryRecord._meta.db_table,),
    ).fetchone()[0]


def _sessions(blocker) -> list:
    return blocker.execute(
        "SELECT pid, state, wait_event_type, wait_event, left(query, 80) FROM pg_stat_activity "
        "WHERE datname = current_database()"
    ).fetchall()


def test_sigkill_with_a_batch_unacknowledged_loses_nothing_and_stores_it_once(
    transactional_db, own_broker, bridge_processes
):
    devices = [make_device() for _ in range(3)]
    client_id = f"crash-bridge-{uuid.uuid4().hex[:6]}"
    first = bridge_processes(own_broker.url, client_id)
    publisher = DeviceClient(own_broker.port, max_inflight=50)
    store = BrokerStore(own_broker.port)
    start = time.time() - 7200
    try:
        publisher.wait_for_bridge(client_id)
        retained = store.settled()  # before any telemetry: the broker holds only retained messages
        for n in range(BEFORE):
            publisher.send(f"acuvim/{devices[n % 3].device_id}/telemetry", messages.reading(start + n, seq=n))
        wait_until(lambda: TelemetryRecord.objects.count() == BEFORE)

        with telemetry_table_locked() as blocker:
            for n in range(BEFORE, BEFORE + AT_KILL):
                publisher.send(f"acuvim/{devices[n % 3].device_id}/telemetry", messages.reading(start + n, seq=n))
            try:
                wait_until(lambda: _blocked_writers(blocker) > 0, timeout=20)
            except AssertionError as exc:
                raise AssertionError(f"no batch waits: {_sessions(blocker)}\n{first.log()[-2000:]}") from exc
            # The broker still holds every one of them: none was acknowledged.
            wait_until(lambda: store.count - retained >= AT_KILL, timeout=15)
            stored_at_kill = blocker.execute(f"SELECT count(*) FROM {TelemetryRecord._meta.db_table}").fetchone()[0]
            first.kill()
        assert stored_at_kill == BEFORE, "the batch in flight could not commit"

        bridge_processes(own_broker.url, client_id)  # the same session: the broker resends what was not acked
        wait_until(lambda: TelemetryRecord.objects.count() == BEFORE + AT_KILL, timeout=30, interval=0.2)
        # Everything acknowledged now: what the broker holds is back to its retained messages (give or take
        # a $SYS topic or two that appeared meanwhile).
        wait_until(lambda: store.count - retained < AT_KILL // 10, timeout=30)
        time.sleep(0.5)
        assert TelemetryRecord.objects.count() == BEFORE + AT_KILL
        per_device = dict(TelemetryRecord.objects.values_list("device").annotate(n=Count("ts")))
        assert sorted(per_device.values()) == [150, 150, 150]
    finally:
        store.close()
        publisher.close()
