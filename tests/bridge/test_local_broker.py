"""The console's own Mosquitto (acuvim_console.mqtt.local_broker): durable, and clear when it cannot start."""

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from acuvim_console.mqtt.local_broker import CONF_D, LocalMosquitto
from tests.support.mosquitto import free_port


def publish_retained(port: int, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="local-broker-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def read_retained(port: int, topic: str, timeout: float = 5.0) -> bytes | None:
    received: list[bytes] = []
    arrived = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="local-broker-reader")
    client.on_message = lambda c, u, message: (received.append(message.payload), arrived.set())
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    arrived.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return received[0] if received else None


def test_what_the_broker_holds_survives_a_restart_because_its_database_is_written(tmp_path):
    """Run as root, Mosquitto drops to the `mosquitto` user and then cannot write a root-owned directory."""
    broker = LocalMosquitto(workdir=tmp_path, port=free_port()).start()
    try:
        publish_retained(broker.port, "acuvim/test/retained", b"kept")
        broker.restart()
        assert (broker.data_dir / "mosquitto.db").exists(), broker.log_tail()
        assert read_retained(broker.port, "acuvim/test/retained") == b"kept"
    finally:
        broker.stop()
    assert f"include_dir {CONF_D}" in broker.config_path.read_text()  # production's queueing limits


def test_a_port_already_taken_is_refused_with_the_reason(tmp_path):
    first = LocalMosquitto(workdir=tmp_path / "first", port=free_port()).start()
    try:
        with pytest.raises(RuntimeError, match=r"is in use"):
            LocalMosquitto(workdir=tmp_path / "second", port=first.port).start()
    finally:
        first.stop()


def test_a_broker_that_exits_at_start_reports_what_mosquitto_said(tmp_path):
    broker = LocalMosquitto(workdir=tmp_path, port=free_port(), host="192.0.2.1")  # not an address of this host
    with pytest.raises(RuntimeError, match=r"(?s)exited at start.*Cannot assign requested address"):
        broker.start()
