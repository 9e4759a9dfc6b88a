"""Embedded service: a living demo fleet for `make run` (DEMO_DEVICES=N simulated gateways).

A console with no gateways shows empty pages, so a first run can ask for N simulated ones: the gateway
firmware on the host HAL (`firmware_src.simulator`), the same code the end-to-end tests use. They are
pre-provisioned here (accepted, with a fresh device token each start, so firmware downloads work) and
connect to the configured broker, or the embedded one, like real gateways would. Their ids come from a
fixed prefix, so restarting the console finds the same devices again with their history.

Where the console manages the broker's accounts (the embedded secured Mosquitto, or MQTT_BROKER_ADMIN=dynsec),
provisioning gives each one its own MQTT password too, which it signs in with like a commissioned gateway.

They power on one after another, CONNECT_SPACING_S apart, rather than all in the same instant: amqtt
(the embedded broker where Mosquitto is not installed) iterates its subscriptions while a client connects
and fails with "dictionary changed size during iteration" when another client subscribes meanwhile,
dropping that connection. Spaced out, each gateway has subscribed before the next one connects, and the
embedded SQLite takes the registrations one at a time instead of in one burst.
"""

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

from acuvim_console.env import env_int
from devices.registry.provisioning import provision_device

log = logging.getLogger(__name__)

DEMO_PREFIX = "demo"
DEMO_GROUPS = ("Demo site A", "Demo site B")
CONNECT_SPACING_S = 0.25
MAX_START_SPREAD_S = 30.0  # a large demo fleet still comes up within the first minute


def broker_url() -> str | None:
    """The broker the demo gateways reach: MQTT_URL without credentials, else the embedded broker."""
    if not settings.MQTT_URL:
        return f"mqtt://127.0.0.1:{settings.MQTT_EMBEDDED_PORT}"
    parts = urlsplit(settings.MQTT_URL)
    if parts.scheme not in ("mqtt", "tcp"):
        log.warning("demo fleet not started: simulated gateways speak plain MQTT, not %s", parts.scheme)
        return None
    return f"mqtt://{parts.hostname or '127.0.0.1'}:{parts.port or 1883}"


def console_url() -> str:
    host = settings.RUNCONSOLE_HOST
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: connect through loopback
        host = "127.0.0.1"
    return f"http://{host}:{settings.RUNCONSOLE_PORT}"


def provision(device_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Accept the demo gateways (spread over two groups): each one's fresh device token, and its fresh MQTT
    password where the console manages the broker's accounts."""
    tokens, mqtt_passwords = {}, {}
    for index, device_id in enumerate(device_ids):
        provisioned = provision_device(
            device_id, name=f"Demo gateway {index + 1}", group_name=DEMO_GROUPS[index % len(DEMO_GROUPS)]
        )
        tokens[device_id] = provisioned.token
        if provisioned.mqtt is not None:
            mqtt_passwords[device_id] = provisioned.mqtt.password
    return tokens, mqtt_passwords


def start() -> Callable[[], None] | None:
    """Start DEMO_DEVICES simulated gateways; None when the variable is unset or 0."""
    count = env_int("DEMO_DEVICES", 0)
    if count <= 0:
        return None
    broker = broker_url()
    if broker is None:
        return None
    from firmware_src.simulator import Fleet
    from firmware_src.simulator.fleet import device_id_for

    device_ids = [device_id_for(DEMO_PREFIX, index) for index in range(count)]
    tokens, mqtt_passwords = provision(device_ids)
    connection.close()  # the gateways talk MQTT; this thread's database connection is not needed further
    fleet = Fleet(
        broker,
        console_url(),
        n=count,
        prefix=DEMO_PREFIX,
        tokens=tokens,
        mqtt_passwords=mqtt_passwords or None,
        telemetry_s=env_int("DEMO_TELEMETRY_S", 5),
        heartbeat_s=env_int("DEMO_HEARTBEAT_S", 30),
        start_spread_s=min(MAX_START_SPREAD_S, count * CONNECT_SPACING_S),
    ).start()
    log.warning("demo fleet: %d simulated gateways connecting to %s (DEMO_DEVICES)", count, broker)
    return fleet.stop
