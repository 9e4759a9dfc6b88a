"""Per-device credentials and ACLs on a real Mosquitto with dynamic security and TLS (issue 15, item 1).

Each device gets its own client and role from provisioning; what its role does not allow never reaches the
console's subscriber. "Never reaches" is shown with a marker: the device publishes a forbidden message, then
an allowed one, and the console sees the allowed one with nothing before it (Mosquitto keeps one client's
messages in order).
"""

import io
import json
import re
import time

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command

from acuvim_console.audit.models import AuditAction, AuditLog
from acuvim_console.bridge.health_check import bridge_online
from acuvim_console.bridge.service import Bridge
from acuvim_console.core import mqtt_publisher as publisher
from acuvim_console.operators.roles import ADMIN
from acuvim_console.protocol.topics import command_topic
from devices.choices import DeviceStatus
from devices.models import Device
from devices.registry.mqtt_credentials import issue_mqtt_credentials
from devices.registry.status import decommission_device
from devices.registry.tokens import hash_token
from tests.broker.conftest import PROVISIONING_PASSWORD, PROVISIONING_USER, WAIT_S
from tests.factories import make_device, make_user, next_device_id

pytestmark = pytest.mark.django_db


def provision(device_id: str) -> tuple[str, str]:
    """Run `manage.py provision_device` and read the MQTT credentials off its output."""
    out = io.StringIO()
    call_command("provision_device", device_id, stdout=out)
    printed = out.getvalue()
    username = re.search(r"^MQTT username: (\S+)$", printed, re.M).group(1)
    password = re.search(r"^MQTT password: (\S+)$", printed, re.M).group(1)
    return username, password


def refused(reason) -> bool:
    return reason == "no CONNACK" or reason.is_failure


def test_anonymous_clients_and_wrong_passwords_are_refused_on_both_listeners(secured_broker, clients):
    assert refused(clients(None, None)[1])
    assert refused(clients(None, None, tls=False)[1])
    assert refused(clients("console", "not-the-password")[1])


def test_provisioning_prints_credentials_that_publish_telemetry_the_console_sees(
    console_settings, clients, console_watch
):
    device_id = next_device_id()
    username, password = provision(device_id)
    assert username == device_id
    assert Device.objects.get(device_id=device_id).mqtt_password_hash == hash_token(password)
    device, reason = clients(username, password)
    assert not reason.is_failure, reason
    device.publish(f"acuvim/{device_id}/telemetry", '{"ts":null,"v1":230.0}')
    device.publish(f"devices/register/{device_id}")
    topics = console_watch.topics_until(f"devices/register/{device_id}")
    assert topics == [f"acuvim/{device_id}/telemetry", f"devices/register/{device_id}"]


def test_a_device_cannot_publish_as_another_nor_write_its_own_commands(console_settings, clients, console_watch):
    a, b = next_device_id(), next_device_id()
    device_a, _ = clients(*provision(a))
    provision(b)
    for forbidden in (
        f"acuvim/{b}/telemetry",
        f"devices/register/{b}",
        "devices/register",
        f"acuvim/{a}/cmd",
        "acuvim/_console/bridge/x",
    ):
        info = device_a.publish(forbidden)
        assert info.is_published()  # QoS 1 answered, with "not authorized" in MQTT v5
    marker = f"acuvim/{a}/heartbeat"
    device_a.publish(marker)
    assert console_watch.topics_until(marker) == [marker]


def test_a_device_may_subscribe_to_its_own_commands_only_and_gets_them_from_the_web_publisher(
    console_settings, clients
):
    a, b = next_device_id(), next_device_id()
    device_a, _ = clients(*provision(a))
    provision(b)
    assert not device_a.subscribe(f"acuvim/{b}/cmd")
    assert not device_a.subscribe("acuvim/+/cmd")
    assert not device_a.subscribe("#")
    assert device_a.subscribe(f"acuvim/{a}/cmd")
    publisher.publish(command_topic(b), {"request_id": "for-b", "command": "ping"})
    publisher.publish(command_topic(a), {"request_id": "for-a", "command": "ping"})
    message = device_a.received()
    assert message.topic == f"acuvim/{a}/cmd" and b"for-a" in message.payload


def test_decommissioning_disconnects_the_device_and_refuses_it_afterwards(console_settings, clients):
    device_id = next_device_id()
    username, password = provision(device_id)
    device, _ = clients(username, password)
    decommission_device(Device.objects.get(device_id=device_id), user=make_user())
    assert device.disconnected.wait(WAIT_S), "the broker kept the decommissioned device's session"
    assert Device.objects.get(device_id=device_id).status == DeviceStatus.DECOMMISSIONED
    assert refused(clients(username, password)[1])


def test_rotation_disconnects_and_refuses_the_old_password_and_the_new_one_works(console_settings, clients):
    device_id = next_device_id()
    username, old_password = provision(device_id)
    old_session, _ = clients(username, old_password)
    device = Device.objects.get(device_id=device_id)
    new = issue_mqtt_credentials(device)
    assert new.password != old_password and device.mqtt_password_hash == hash_token(new.password)
    assert old_session.disconnected.wait(WAIT_S)
    assert refused(clients(username, old_password)[1])
    assert not clients(username, new.password)[1].is_failure


def test_rotating_in_the_admin_shows_the_new_password_once_and_leaves_retired_devices_refused(
    console_settings, client, clients
):
    """The admin's rotation (a lost or stolen gateway): the old session is kicked, the old password refused,
    the new one works and is audited without itself; a decommissioned device is not enabled again."""
    device_id, retired_id = next_device_id(), next_device_id()
    username, old_password = provision(device_id)
    _, retired_password = provision(retired_id)
    old_session, _ = clients(username, old_password)
    retired = Device.objects.get(device_id=retired_id)
    decommission_device(retired, user=make_user())
    admin = make_user(ADMIN)
    client.force_login(admin)
    device = Device.objects.get(device_id=device_id)
    response = client.post(
        "/admin/devices/device/", {"action": "rotate_mqtt_credentials", "_selected_action": [device.pk, retired.pk]}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert "messages" not in response.cookies
    page = response.content.decode()
    password = re.search(rf'data-mqtt-password="{device_id}">([^<]+)<', page).group(1)
    assert f'data-mqtt-password="{retired_id}"' not in page
    assert old_session.disconnected.wait(WAIT_S), "the broker kept the session of the old password"
    assert refused(clients(username, old_password)[1])
    assert not clients(username, password)[1].is_failure
    assert refused(clients(retired_id, retired_password)[1])
    device.refresh_from_db()
    assert device.mqtt_password_hash == hash_token(password)
    issued = AuditLog.objects.filter(action=AuditAction.MQTT_CREDENTIALS_ISSUED, target=f"device {device_id}")
    assert [entry.actor for entry in issued] == [admin.username, ""]  # the admin's rotation, then provisioning
    assert password not in json.dumps([entry.detail for entry in issued])


def test_factory_fresh_gateways_may_only_register_and_never_as_a_provisioned_device(
    console_settings, clients, console_watch
):
    fresh, provisioned = next_device_id(), next_device_id()
    provision(provisioned)
    gateway, reason = clients(PROVISIONING_USER, PROVISIONING_PASSWORD)
    assert not reason.is_failure, reason
    assert not gateway.subscribe(f"acuvim/{fresh}/cmd")
    for forbidden in (f"devices/register/{provisioned}", f"acuvim/{fresh}/telemetry", "devices/register"):
        gateway.publish(forbidden)
    marker = f"devices/register/{fresh}"
    gateway.publish(marker)
    assert console_watch.topics_until(marker) == [marker]


def test_approving_a_pending_device_in_the_admin_shows_working_credentials_once(console_settings, client, clients):
    client.force_login(make_user(ADMIN))
    pending = make_device(status=DeviceStatus.PENDING, approved_at=None)
    response = client.post("/admin/devices/device/", {"action": "approve_devices", "_selected_action": [pending.pk]})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    password = re.search(rf'data-mqtt-password="{pending.device_id}">([^<]+)<', page).group(1)
    assert "messages" not in response.cookies
    assert not clients(pending.device_id, password)[1].is_failure
    pending.refresh_from_db()
    assert pending.status == DeviceStatus.OFFLINE and pending.mqtt_password_hash == hash_token(password)


def test_deleting_a_device_in_the_admin_disables_its_broker_account(console_settings, client, clients):
    device_id = next_device_id()
    username, password = provision(device_id)
    session, _ = clients(username, password)
    client.force_login(make_user(ADMIN))
    device = Device.objects.get(device_id=device_id)
    response = client.post(f"/admin/devices/device/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Device.objects.filter(device_id=device_id).exists()
    assert session.disconnected.wait(WAIT_S)
    assert refused(clients(username, password)[1])


def test_a_broker_that_refuses_the_console_leaves_the_device_as_it_was(console_settings):
    console_settings.MQTT_URL = console_settings.MQTT_URL.replace("console-secret", "wrong-secret")
    device = make_device()
    with pytest.raises(Exception, match="refused"):
        decommission_device(device, user=make_user())
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE


def test_protocol_v311_devices_are_held_to_the_same_acl(console_settings, secured_broker, console_watch):
    """Older firmware speaks MQTT 3.1.1, where a refused publish is dropped silently rather than answered."""
    device_id, other = next_device_id(), next_device_id()
    username, password = provision(device_id)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"v311-{device_id}", protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)
    client.tls_set(ca_certs=str(secured_broker.ca_path))
    client.connect("localhost", secured_broker.tls_port)
    client.loop_start()
    try:
        client.publish(f"acuvim/{other}/telemetry", "{}", qos=1).wait_for_publish(WAIT_S)
        client.publish(f"acuvim/{device_id}/telemetry", "{}", qos=1).wait_for_publish(WAIT_S)
        assert console_watch.topics_until(f"acuvim/{device_id}/telemetry") == [f"acuvim/{device_id}/telemetry"]
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_bridge_connects_over_tls_with_the_console_credentials_and_stores_a_registration(
    console_settings, clients, transactional_db
):
    console_settings.MQTT_BATCH_MAX_WAIT_MS = 20
    console_settings.MQTT_METRICS_INTERVAL_S = 0
    console_settings.DEVICE_AUTO_ACCEPT = False
    console_settings.MQTT_CLIENT_ID = "broker-test-bridge"
    assert not bridge_online(timeout=1.0)
    bridge = Bridge().start()
    try:
        assert bridge.connected.wait(WAIT_S), "bridge did not connect over TLS"
        assert bridge_online(), "the compose healthcheck would call this bridge unhealthy"
        gateway, _ = clients(PROVISIONING_USER, PROVISIONING_PASSWORD)
        fresh = next_device_id()
        registration = json.dumps({"device_id": fresh, "hw": "TTGO T-Call v1.4", "fw": "1.2.0", "ts": None})
        deadline = time.monotonic() + WAIT_S
        while not Device.objects.filter(device_id=fresh).exists() and time.monotonic() < deadline:
            gateway.publish(f"devices/register/{fresh}", registration)  # again until the subscription is granted
            time.sleep(0.2)
        assert Device.objects.get(device_id=fresh).status == DeviceStatus.PENDING
    finally:
        bridge.stop()
