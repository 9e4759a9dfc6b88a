"""Where the broker is and how the console's MQTT clients talk to it (address, protocol, session, backoff).

MQTT_URL is `mqtt://[user:password@]host[:1883]` or `mqtts://...[:8883]` (TLS, CA from MQTT_CA_FILE or the
system store). Unset, the console talks to its embedded broker on 127.0.0.1:MQTT_EMBEDDED_PORT: a Mosquitto
child process where Mosquitto is installed, else amqtt in-process (MQTT_EMBEDDED_BROKER chooses). Mosquitto
gets MQTT v5 (Receive Maximum, session expiry, shared subscriptions); amqtt only speaks 3.1.1 and silently
drops a v5 CONNECT, so it gets 3.1.1 (MQTT_PROTOCOL overrides either way).
"""

import random
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from acuvim_console.core.local_broker import mosquitto_binary

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class EmbeddedBroker(StrEnum):
    """What runconsole runs on MQTT_EMBEDDED_PORT when MQTT_URL is unset."""

    MOSQUITTO = "mosquitto"  # a child process from deploy/mosquitto/, durable
    AMQTT = "amqtt"  # in-process, MQTT 3.1.1, not durable: where Mosquitto is not installed


def embedded_broker() -> EmbeddedBroker:
    """MQTT_EMBEDDED_BROKER (`auto`: Mosquitto where it is installed, else amqtt).

    Decided from settings and the machine alone, so the process that starts the broker and a bridge
    connecting to it separately come to the same answer.
    """
    chosen = settings.MQTT_EMBEDDED_BROKER
    if chosen == "auto":
        return EmbeddedBroker.MOSQUITTO if mosquitto_binary() else EmbeddedBroker.AMQTT
    try:
        return EmbeddedBroker(chosen)
    except ValueError:
        raise ImproperlyConfigured(f"MQTT_EMBEDDED_BROKER must be auto, mosquitto or amqtt, not {chosen!r}") from None


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    embedded: bool = False

    def __str__(self):
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def broker_address() -> BrokerAddress:
    url = settings.MQTT_URL
    if not url:
        return BrokerAddress("127.0.0.1", settings.MQTT_EMBEDDED_PORT, embedded=True)
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ImproperlyConfigured(
            f"MQTT_URL must look like mqtt://host:1883 or mqtts://host:8883, not {parts.scheme}://"
        )
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or DEFAULT_PORTS[parts.scheme],
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def protocol_for(address: BrokerAddress) -> int:
    speaks_311_only = address.embedded and embedded_broker() is EmbeddedBroker.AMQTT
    chosen = settings.MQTT_PROTOCOL or ("3.1.1" if speaks_311_only else "5")
    versions = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}
    if chosen not in versions:
        raise ImproperlyConfigured(f"MQTT_PROTOCOL must be 5 or 3.1.1, not {chosen!r}")
    return versions[chosen]


def new_client(client_id: str, address: BrokerAddress, *, persistent: bool, manual_ack: bool = False) -> mqtt.Client:
    """A paho client for `address`: credentials, TLS and, for 3.1.1, the session kind (v5 sets it on connect)."""
    protocol = protocol_for(address)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == mqtt.MQTTv5 else not persistent,
        manual_ack=manual_ack,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(ca_certs=settings.MQTT_CA_FILE or None)
    client.reconnect_delay_set(settings.MQTT_RECONNECT_MIN_S, settings.MQTT_RECONNECT_MAX_S)
    return client


def connect_options(client: mqtt.Client, *, persistent: bool) -> dict:
    """Keyword arguments for connect()/connect_async(): v5 asks for a lasting session and a wide in-flight window.

    The bridge acknowledges only after its batch commits, so the broker must be allowed to have a whole
    batch (and the next one) unacknowledged in flight: Receive Maximum is that allowance.
    """
    options = {"keepalive": settings.MQTT_KEEPALIVE_S}
    if client.protocol == mqtt.MQTTv5:
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = settings.MQTT_RECEIVE_MAXIMUM
        if persistent:
            properties.SessionExpiryInterval = settings.MQTT_SESSION_EXPIRY_S
        options.update(clean_start=not persistent, properties=properties)
    return options


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Capped exponential backoff with jitter, so a fleet of clients does not retry in lockstep."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** min(attempt, 16))
