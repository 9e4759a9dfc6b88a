"""The console's own Mosquitto (acuvim_console.core.local_broker): durable, clear when it cannot start, and
supervised in embedded mode."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from acuvim_console.bridge.embedded import RESTART_DELAY_S, SupervisedMosquitto
from acuvim_console.core.local_broker import CONF_D, LocalMosquitto
from tests.support.mosquitto import free_port, wait_for_port


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


def test_the_embedded_mosquitto_is_started_again_when_it_dies_and_not_after_the_console_stops(tmp_path):
    supervised = SupervisedMosquitto(LocalMosquitto(workdir=tmp_path, port=free_port())).start()
    first = supervised.broker.process
    try:
        first.kill()
        deadline = time.monotonic() + 15
        while not (supervised.broker.is_running() and supervised.broker.process is not first):
            assert time.monotonic() < deadline, "the broker was not started again"
            time.sleep(0.1)
        wait_for_port(supervised.broker.port)
        publish_retained(supervised.broker.port, "acuvim/test/after-restart", b"back")
        assert read_retained(supervised.broker.port, "acuvim/test/after-restart") == b"back"
    finally:
        second = supervised.broker.process
        supervised.stop()
    assert second.poll() is not None and supervised.broker.process is None
    time.sleep(RESTART_DELAY_S + 0.5)
    assert supervised.broker.process is None, "a stopped console must not get its broker back"
