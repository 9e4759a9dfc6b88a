"""The simulator's MQTT adapter (hal/host.py) against a real Mosquitto: what the soak's clock relies on."""

import time

from firmware_src.device.protocol import Conn
from firmware_src.hal.host import HostMqttClient, SimControls
from firmware_src.simulator.shard import Shard


def test_a_dropped_connection_leaves_no_publish_waiting_for_its_puback(mqtt_broker):
    """After a cut nothing can be acknowledged any more: `inflight()` must say 0, or the soak's virtual
    clock (which waits while publishes are in flight) crawls through every broker outage."""
    controls = SimControls()
    events = []
    client = HostMqttClient("host-drop-test", "127.0.0.1", mqtt_broker.port, Shard("host-drop-test"), controls,
                            lambda: Conn.WIFI)
    client.configure(lambda ok: events.append(("connect", ok)), lambda: events.append(("lost",)),
                     lambda topic, payload: None, lambda mid: events.append(("ack", mid)))
    assert client.connect("127.0.0.1", mqtt_broker.port, "host-drop-test", None, 30, "t/host-drop/status",
                          "offline", False)
    deadline = time.monotonic() + 5
    while ("connect", True) not in events and time.monotonic() < deadline:
        client._client.loop(0.05)
    mids = [client.publish("t/host-drop/data", b"x" * 100, 1, False) for _ in range(5)]
    assert None not in mids and client.inflight() == 5  # handed to paho, no PUBACK read yet

    controls.broker_up = False
    client.poll()

    assert events[-1] == ("lost",) and not client.is_connected()
    assert client.inflight() == 0
