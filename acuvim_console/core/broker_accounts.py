"""The console manages the broker's accounts: one client and one role per device, over Mosquitto's
dynamic-security control topic (`$CONTROL/dynamic-security/v1`), with the console's own MQTT credentials.

MQTT_BROKER_ADMIN chooses: `dynsec` drives the plugin; `none` (development, the embedded broker, tests
that do not need a broker) turns every operation into a log line, so provisioning and approval work the
same without a secured broker. The commands are the plugin's documented JSON API; talking MQTT with paho
rather than running `mosquitto_ctrl` keeps TLS, credentials and timeouts in one place (mqtt_connection.py).
"""

import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from acuvim_console.core.broker_files import PROVISIONING_ROLE, acl, device_role_acls
from acuvim_console.core.mqtt_connection import broker_address, connect_options, new_client

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
PASSWORD_BYTES = 24
# Answers the plugin gives when the thing asked for is already as wanted: not failures for an idempotent caller.
ALREADY_EXISTS = ("already exists",)
NOT_FOUND = ("not found",)


class BrokerAdminError(RuntimeError):
    """The broker did not do what the console asked (unreachable, refused our credentials, or said no)."""


@dataclass(frozen=True)
class MqttCredentials:
    username: str
    password: str


def device_role_name(device_id: str) -> str:
    return f"device-{device_id}"


class DynsecControl:
    """Send one batch of dynsec commands and wait for its answers.

    A connection per batch: accounts change when an engineer provisions, approves or retires a device,
    a few times a day, so a connection that lives in every web process would cost more than it saves.
    """

    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout

    def run(self, commands: list[dict], *, tolerate: tuple[str, ...] = ()) -> list[dict]:
        """The plugin's response for each command; raise BrokerAdminError on an error not in `tolerate`."""
        address = broker_address()
        correlation = uuid.uuid4().hex
        for index, command in enumerate(commands):
            command["correlationData"] = f"{correlation}-{index}"
        client = new_client(f"{settings.MQTT_CLIENT_ID}-dynsec-{correlation[:8]}", address, persistent=False)
        answered, state = threading.Event(), {"responses": None, "refused": None}

        def on_connect(client, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                state["refused"] = str(reason_code)
                answered.set()
                return
            client.subscribe(RESPONSE_TOPIC, qos=1)

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            if any(code.is_failure for code in reason_codes):
                state["refused"] = f"may not subscribe to {RESPONSE_TOPIC}"
                answered.set()
                return
            client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)

        def on_message(client, userdata, message):
            try:
                responses = json.loads(message.payload).get("responses", [])
            except (ValueError, AttributeError):
                return
            ours = [r for r in responses if str(r.get("correlationData", "")).startswith(correlation)]
            if ours:
                state["responses"] = ours
                answered.set()

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        try:
            client.connect(address.host, address.port, **connect_options(client, persistent=False))
        except OSError as exc:
            raise BrokerAdminError(f"broker {address} unreachable: {exc}") from exc
        client.loop_start()
        try:
            if not answered.wait(self.timeout):
                raise BrokerAdminError(f"broker {address} did not answer the account change within {self.timeout} s")
        finally:
            client.disconnect()
            client.loop_stop()
        if state["refused"]:
            raise BrokerAdminError(f"broker {address} refused the console's account change: {state['refused']}")
        responses = state["responses"]
        for response in responses:
            error = response.get("error")
            if error and not any(marker in error.lower() for marker in tolerate):
                raise BrokerAdminError(f"broker refused {response.get('command')}: {error}")
        return responses


class DynsecAdmin:
    """Device accounts in the dynamic-security plugin: username = device_id, role = exactly the protocol's ACL."""

    def __init__(self, control: DynsecControl | None = None):
        self.control = control or DynsecControl()

    def issue_device_credentials(self, device_id: str) -> MqttCredentials:
        """Create the device's client (or give it a new password), enabled, with its role; the provisioning
        client loses access to this id. Whoever was connected with the old password is disconnected."""
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        role = device_role_name(device_id)
        prefix = settings.MQTT_TOPIC_PREFIX
        self.control.run(
            [
                {"command": "createRole", "rolename": role, "acls": device_role_acls(device_id, prefix)},
                {
                    "command": "addRoleACL",
                    "rolename": PROVISIONING_ROLE,
                    **acl("publishClientSend", f"devices/register/{device_id}", allow=False, priority=10),
                },
            ],
            tolerate=ALREADY_EXISTS + NOT_FOUND,
        )
        created = self.control.run(
            [{"command": "createClient", "username": device_id, "password": password, "roles": [{"rolename": role}]}],
            tolerate=ALREADY_EXISTS,
        )
        if created[0].get("error"):
            # Known: disabling kicks whoever is connected with the old password, then the new one is set.
            self.control.run(
                [
                    {"command": "disableClient", "username": device_id},
                    {
                        "command": "modifyClient",
                        "username": device_id,
                        "password": password,
                        "roles": [{"rolename": role}],
                    },
                    {"command": "enableClient", "username": device_id},
                ]
            )
        log.info("MQTT credentials issued for %s", device_id)
        return MqttCredentials(device_id, password)

    def disable_device(self, device_id: str) -> None:
        """Refuse the device's logins from now on and disconnect its session (the plugin kicks it)."""
        responses = self.control.run([{"command": "disableClient", "username": device_id}], tolerate=NOT_FOUND)
        if responses[0].get("error"):
            log.info("MQTT client %s does not exist on the broker: nothing to disable", device_id)
        else:
            log.info("MQTT client %s disabled", device_id)


class NoBrokerAdmin:
    """MQTT_BROKER_ADMIN=none: the broker's accounts are not the console's business; say so and go on."""

    def issue_device_credentials(self, device_id: str) -> None:
        log.info("MQTT_BROKER_ADMIN=none: no broker credentials issued for %s", device_id)
        return None

    def disable_device(self, device_id: str) -> None:
        log.info("MQTT_BROKER_ADMIN=none: no broker client to disable for %s", device_id)


def broker_admin() -> DynsecAdmin | NoBrokerAdmin:
    chosen = settings.MQTT_BROKER_ADMIN
    if chosen == "dynsec":
        if broker_address().embedded:
            raise ImproperlyConfigured(
                "MQTT_BROKER_ADMIN=dynsec needs MQTT_URL with the console's credentials: the embedded broker "
                "has no accounts to manage (run `manage.py broker`, docs/deployment.md)"
            )
        return DynsecAdmin()
    if chosen == "none":
        return NoBrokerAdmin()
    raise ImproperlyConfigured(f"MQTT_BROKER_ADMIN must be dynsec or none, not {chosen!r}")
