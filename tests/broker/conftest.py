"""A secured Mosquitto (TLS, dynamic security, anonymous off) per test module, and MQTT clients to probe it.

The broker is the one `manage.py broker` runs (acuvim_console.core.broker_files), started on free ports
from TEST_PORTS with its development CA, the console's client and the shared provisioning client.
"""

import queue
import ssl
import threading
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from acuvim_console.core import broker_files
from acuvim_console.core import mqtt_publisher as publisher
from tests.support.ports import free_port

CONSOLE_USER, CONSOLE_PASSWORD = "console", "console-secret-for-tests"
PROVISIONING_USER, PROVISIONING_PASSWORD = "provisioning", "shared-provisioning-secret"
WAIT_S = 5.0


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("secured-mosquitto")
    broker_files.write_development_certificates(workdir, ["localhost", "127.0.0.1"])
    document = broker_files.initial_dynsec_document(
        CONSOLE_USER, CONSOLE_PASSWORD, "acuvim", PROVISIONING_USER, PROVISIONING_PASSWORD
    )
    broker_files.write_dynsec_document(workdir / broker_files.DYNSEC_FILE, document)
    broker = broker_files.SecuredMosquitto(
        workdir=workdir, port=free_port(), tls_port=free_port(), tls_host="127.0.0.1"
    ).start()
    yield broker
    broker.stop()


@pytest.fixture
def console_settings(settings, secured_broker):
    """The console talks TLS to the secured broker with its own credentials, and manages its accounts."""
    settings.MQTT_URL = f"mqtts://{CONSOLE_USER}:{CONSOLE_PASSWORD}@localhost:{secured_broker.tls_port}"
    settings.MQTT_CA_FILE = str(secured_broker.ca_path)
    settings.MQTT_BROKER_ADMIN = "dynsec"
    settings.MQTT_PROVISIONING_USERNAME = PROVISIONING_USER
    publisher.close()
    yield settings
    publisher.close()


@dataclass
class Probe:
    """One MQTT v5 client: what CONNECT answered, what arrived, and whether the broker dropped it."""

    client: mqtt.Client
    connect_result: "queue.Queue" = field(default_factory=queue.Queue)
    messages: "queue.Queue" = field(default_factory=queue.Queue)
    disconnected: threading.Event = field(default_factory=threading.Event)
    suback: "queue.Queue" = field(default_factory=queue.Queue)

    def publish(self, topic: str, payload: str = "{}") -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)
        return info

    def subscribe(self, topic: str) -> bool:
        """Whether the broker granted the subscription."""
        self.client.subscribe(topic, qos=1)
        codes = self.suback.get(timeout=WAIT_S)
        return not any(code.is_failure for code in codes)

    def received(self, timeout: float = WAIT_S) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def topics_until(self, marker_topic: str) -> list[str]:
        """Topics received up to and including `marker_topic` (which must come)."""
        seen = []
        while not seen or seen[-1] != marker_topic:
            seen.append(self.received().topic)
        return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(broker, username: str | None, password: str | None, *, tls: bool = True) -> tuple[Probe, object]:
    """A client connected (or refused) on the TLS listener, or the plain one; returns it with CONNACK's reason."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    probe = Probe(client)
    if username is not None:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=str(broker.ca_path), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.on_connect = lambda c, u, flags, reason, props: probe.connect_result.put(reason)
    client.on_message = lambda c, u, message: probe.messages.put(message)
    client.on_disconnect = lambda c, u, flags, reason, props: probe.disconnected.set()
    client.on_subscribe = lambda c, u, mid, codes, props: probe.suback.put(codes)
    port = broker.tls_port if tls else broker.port
    client.connect("localhost" if tls else "127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        reason = probe.connect_result.get(timeout=WAIT_S)
    except queue.Empty:
        reason = "no CONNACK"
    return probe, reason


@pytest.fixture
def clients(secured_broker):
    """connect(...) for the test, every client closed at its end."""
    opened = []

    def open_client(username, password, *, tls=True):
        probe, reason = connect(secured_broker, username, password, tls=tls)
        opened.append(probe)
        return probe, reason

    yield open_client
    for probe in opened:
        # Not joined: a paho network thread takes up to a second to notice, and ends by itself (daemon).
        probe.client.disconnect()


@pytest.fixture
def console_watch(clients):
    """The console's own client, subscribed to every topic."""
    probe, reason = clients(CONSOLE_USER, CONSOLE_PASSWORD)
    assert not reason.is_failure, reason
    assert probe.subscribe("#")
    return probe
