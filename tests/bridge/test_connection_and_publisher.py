"""Broker address from MQTT_URL, protocol choice, and the command publisher against the private Mosquitto."""

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from django.core.exceptions import ImproperlyConfigured

from acuvim_console.core import mqtt_publisher
from acuvim_console.core.mqtt_connection import (
    BrokerAddress,
    EmbeddedBroker,
    broker_address,
    embedded_broker,
    protocol_for,
)
from acuvim_console.protocol.topics import command_topic
from tests.bridge.conftest import DeviceClient
from tests.support.mosquitto import free_port


def test_mqtt_url_gives_host_port_tls_and_credentials(settings):
    settings.MQTT_URL = "mqtts://bridge:p%40ss@broker.example.com"
    address = broker_address()
    assert (address.host, address.port, address.tls) == ("broker.example.com", 8883, True)
    assert (address.username, address.password) == ("bridge", "p@ss")
    assert "p@ss" not in str(address) and "bridge" not in str(address)

    settings.MQTT_URL = "mqtt://10.0.0.5"
    assert broker_address() == BrokerAddress("10.0.0.5", 1883)

    settings.MQTT_URL = "http://broker:1883"
    with pytest.raises(ImproperlyConfigured):
        broker_address()


def test_embedded_amqtt_gets_mqtt_311_and_mosquitto_embedded_or_not_gets_v5(settings):
    settings.MQTT_URL = ""
    settings.MQTT_PROTOCOL = ""
    assert broker_address().embedded
    settings.MQTT_EMBEDDED_BROKER = "amqtt"
    assert protocol_for(broker_address()) == mqtt.MQTTv311
    settings.MQTT_EMBEDDED_BROKER = "mosquitto"
    assert protocol_for(broker_address()) == mqtt.MQTTv5
    settings.MQTT_EMBEDDED_BROKER = "auto"  # Mosquitto is installed on these machines
    assert embedded_broker() is EmbeddedBroker.MOSQUITTO
    settings.MQTT_EMBEDDED_BROKER = "hivemq"
    with pytest.raises(ImproperlyConfigured, match="MQTT_EMBEDDED_BROKER"):
        embedded_broker()
    settings.MQTT_EMBEDDED_BROKER = "auto"
    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    assert protocol_for(broker_address()) == mqtt.MQTTv5
    settings.MQTT_PROTOCOL = "3.1.1"
    assert protocol_for(broker_address()) == mqtt.MQTTv311


@pytest.fixture
def fresh_publisher():
    mqtt_publisher.close()
    yield mqtt_publisher
    mqtt_publisher.close()


def test_publish_returns_after_the_broker_acknowledged_and_the_device_receives_it(
    settings, mqtt_broker, fresh_publisher
):
    settings.MQTT_URL = mqtt_broker.url
    device = DeviceClient(mqtt_broker.port)
    received = threading.Event()
    payloads = []

    def on_message(client, userdata, message):
        payloads.append(json.loads(message.payload))
        received.set()

    topic = command_topic("ACV-AABBCCDDEE42")
    subscribed = threading.Event()
    device.client.on_subscribe = lambda *args: subscribed.set()
    device.client.on_message = on_message
    device.client.subscribe(topic, qos=1)
    try:
        assert subscribed.wait(5)
        fresh_publisher.publish(topic, {"req": "r-1", "cmd": "ping", "params": {}})
        assert received.wait(5)
        assert payloads == [{"req": "r-1", "cmd": "ping", "params": {}}]
    finally:
        device.close()


def test_publish_to_an_unreachable_broker_raises_publish_error(settings, fresh_publisher):
    settings.MQTT_URL = f"mqtt://127.0.0.1:{free_port()}"
    with pytest.raises(mqtt_publisher.PublishError):
        fresh_publisher.publish("acuvim/ACV-AABBCCDDEE42/cmd", {"cmd": "ping"}, timeout=1.0)
