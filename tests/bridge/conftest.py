"""A bridge running in this test process against the session's private Mosquitto, and a device-side client."""

import contextlib
import itertools
import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
from django.conf import settings as django_settings
from paho.mqtt.enums import CallbackAPIVersion

from acuvim_console.bridge.service import Bridge
from acuvim_console.protocol.topics import bridge_status_topic
from telemetry.models import TelemetryRecord
from tests.support.bridge_process import BridgeProcess
from tests.support.metrics import metrics
from tests.support.mosquitto import Mosquitto

_client_numbers = itertools.count(1)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@contextlib.contextmanager
def telemetry_table_locked():
    """Hold the telemetry table locked (ACCESS EXCLUSIVE) from another session: no batch can commit meanwhile.

    Yields the locking connection, the only one that can still read the table.
    """
    database = django_settings.DATABASES["default"]
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"]
    ) as blocker:
        blocker.execute(f"LOCK TABLE {TelemetryRecord._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield blocker
        finally:
            blocker.rollback()


class DeviceClient:
    """What a gateway does on the wire: publish JSON (or raw bytes) and wait for the broker's PUBACK."""

    def __init__(
        self, port: int, max_inflight: int = 20, protocol: int = mqtt.MQTTv311, username=None, password=None
    ):
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-device-{uuid.uuid4().hex[:8]}", protocol=protocol
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(max_inflight)  # bounded: paho loses messages beyond ~65k queued
        self._acknowledged: set[int] = set()
        self.client.on_publish = lambda client, userdata, mid, reason_code, properties: self._acknowledged.add(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload) -> int:
        """QoS 1 without waiting; returns the packet id. While the broker is down paho keeps the message
        and sends it after reconnecting, as a gateway's MQTT client does."""
        return self.client.publish(topic, json.dumps(payload), qos=1).mid

    def wait_acknowledged(self, mids: list[int], timeout: float = 10.0) -> None:
        """Wait for the broker's PUBACK of every packet id in `mids` (ids are reused after 65,535)."""
        wait_until(lambda: self._acknowledged.issuperset(mids), timeout)

    def acknowledged(self, mids: list[int]) -> bool:
        return bool(self._acknowledged.intersection(mids))

    def send(self, topic: str, payload, qos: int = 1, retain: bool = False) -> None:
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        info = self.client.publish(topic, body, qos=qos, retain=retain)
        info.wait_for_publish(5)
        assert info.is_published() or qos == 0

    def wait_for_bridge(self, client_id: str, timeout: float = 30.0) -> None:
        """Wait for a bridge's retained online status: published after it subscribed, so nothing sent now is lost."""
        online = threading.Event()

        def on_message(client, userdata, message):
            if message.payload and json.loads(message.payload).get("state") == "online":
                online.set()

        topic = bridge_status_topic(client_id)
        self.client.message_callback_add(topic, on_message)
        self.client.subscribe(topic, qos=1)
        try:
            assert online.wait(timeout), f"bridge {client_id} did not come online within {timeout} s"
        finally:
            self.client.unsubscribe(topic)
            self.client.message_callback_remove(topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def bridge_settings(settings, mqtt_broker):
    settings.MQTT_URL = mqtt_broker.url
    settings.MQTT_BATCH_MAX_WAIT_MS = 20
    settings.MQTT_METRICS_INTERVAL_S = 0
    settings.DEVICE_AUTO_ACCEPT = False
    return settings


@pytest.fixture
def start_bridge(bridge_settings, transactional_db):
    """Start (and at the end stop) bridges with fresh metrics and their own persistent session."""
    bridges = []
    metrics.reset()

    def start(client_id: str | None = None, shared_group: str | None = None) -> Bridge:
        client_id = client_id or f"test-bridge-{next(_client_numbers)}-{uuid.uuid4().hex[:6]}"
        bridge = Bridge(client_id=client_id, shared_group=shared_group).start()
        assert bridge.connected.wait(10), "bridge did not connect"
        time.sleep(0.1)  # subscriptions granted
        bridges.append(bridge)
        return bridge

    yield start
    for bridge in bridges:
        bridge.stop()


@pytest.fixture
def bridge(start_bridge):
    return start_bridge()


@pytest.fixture
def device_client(mqtt_broker):
    client = DeviceClient(mqtt_broker.port)
    yield client
    client.close()


@pytest.fixture
def own_broker(tmp_path, bridge_settings):
    """A Mosquitto of this test alone, configured like production, that the test may stop and restart."""
    broker = Mosquitto(workdir=tmp_path / "mosquitto", sys_interval_s=1)
    broker.workdir.mkdir()
    broker.start()
    bridge_settings.MQTT_URL = broker.url
    yield broker
    broker.stop()


@pytest.fixture
def bridge_processes(tmp_path):
    """Start `manage.py mqtt_bridge` processes; whatever is still running at the end is stopped."""
    started: list[BridgeProcess] = []

    def start(mqtt_url: str, client_id: str | None = None, **options) -> BridgeProcess:
        client_id = client_id or f"bridge-process-{uuid.uuid4().hex[:6]}"
        process = BridgeProcess(mqtt_url, client_id, tmp_path / f"{client_id}.log", **options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
