"""Passwords in set_config params and get_config answers reach the gateway and the database, never a browser."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from acuvim_console.core.events import COMMAND_COMPLETED
from acuvim_console.operators.roles import ADMIN, VIEWER
from acuvim_console.protocol.payloads import parse_response
from devices.choices import DeviceStatus
from devices.cockpit.live import device_snapshot, recent_events
from devices.control.commands import handle_response, send_command, send_group_command
from devices.control.config_push import push_config
from devices.models import Command
from tests.api.conftest import client_for
from tests.factories import make_device, make_group, make_user

pytestmark = pytest.mark.django_db

WIFI_PASSWORD = "Plant-A wifi s3cret"
MQTT_PASSWORD = "broker-pass-77"


def test_set_config_and_get_config_events_carry_no_password(gateway, live_events, django_capture_on_commit_callbacks):
    device = make_device()
    live_events.follow(device.device_id)
    with django_capture_on_commit_callbacks(execute=True):
        command = send_command(device, "set_config", {"wifi": {"ssid": "Plant-A", "password": WIFI_PASSWORD}})
    _, message = gateway.next()
    assert message["params"]["wifi"]["password"] == WIFI_PASSWORD  # the gateway needs the real one

    answer = {"cfg": "a" * 16, "wifi": {"ssid": "Plant-A", "password": WIFI_PASSWORD}}
    with django_capture_on_commit_callbacks(execute=True):
        handle_response(
            device,
            parse_response({"req": command.request_id, "cmd": "set_config", "status": "success", "data": answer}),
            timezone.now(),
        )
        asked = send_command(device, "get_config")
    gateway.next()
    config = {"wifi": {"ssid": "Plant-A", "password": WIFI_PASSWORD}, "mqtt": {"user": "gw", "password": MQTT_PASSWORD}}
    with django_capture_on_commit_callbacks(execute=True):
        handle_response(
            device,
            parse_response({"req": asked.request_id, "cmd": "get_config", "status": "success", "data": config}),
            timezone.now(),
        )

    asked.refresh_from_db()
    assert asked.response["mqtt"] == {"user": "gw", "password": "***"}  # redacted before it was stored
    on_device_page, on_fleet_page = live_events.device(), live_events.fleet()
    assert len(on_device_page) >= 4 and on_fleet_page
    set_config_events = [data for _, data in on_device_page if data["request_id"] == command.request_id]
    assert {event["params"]["wifi"]["password"] for event in set_config_events} == {"***"}
    completed = [data for name, data in on_fleet_page if name == COMMAND_COMPLETED]
    assert {data["command"] for data in completed} == {"set_config", "get_config"}
    get_config_done = next(data for data in completed if data["command"] == "get_config")
    assert get_config_done["response"]["mqtt"] == {"user": "gw", "password": "***"}
    # Nothing a page receives, live or on load, holds either password.
    device.refresh_from_db()
    for shown in (on_device_page, on_fleet_page, device_snapshot(device), recent_events()):
        text = json.dumps(shown, default=str)
        assert WIFI_PASSWORD not in text and MQTT_PASSWORD not in text


def test_admin_command_and_batch_pages_hide_the_password(client):
    client.force_login(make_user(ADMIN))
    device, group = make_device(status=DeviceStatus.OFFLINE), make_group()
    device.group = group
    device.save(update_fields=["group"])
    params = {"wifi": {"ssid": "Plant-A", "password": WIFI_PASSWORD}}
    batch = send_group_command(group, "set_config", params)
    command = batch.commands.get()
    Command.objects.filter(pk=command.pk).update(response={"mqtt": {"password": MQTT_PASSWORD}})

    for url in (
        reverse("admin:devices_command_change", args=[command.pk]),
        reverse("admin:devices_commandbatch_change", args=[batch.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        text = page.content.decode()
        assert "Plant-A" in text and "***" in text, url
        assert WIFI_PASSWORD not in text and MQTT_PASSWORD not in text, url


GSM_PIN = "pin7391"  # not digits only, so it cannot turn up by chance in ids or timestamps
DEVICE_TOKEN = "acvt_" + "Qx9" * 12  # the shape devices.registry.tokens issues


def answer(device, command, status="success", **fields):
    payload = {"req": command.request_id, "cmd": command.command, "status": status, **fields}
    handle_response(device, parse_response(payload), timezone.now())
    command.refresh_from_db()
    return command


def test_device_answers_are_redacted_by_key_pattern_and_known_secret_before_they_are_stored(
    gateway, live_events, client, django_capture_on_commit_callbacks
):
    """Issue 15: `wifi.psk`, `mqtt.pass`, `console_token` and an error quoting the password reached Viewers."""
    device = make_device()
    push_config(device, {"wifi": {"ssid": "Plant-A", "password": WIFI_PASSWORD}, "gsm": {"pin": GSM_PIN}})
    live_events.follow(device.device_id)
    config_answer = {
        "wifi": {"ssid": "Plant-A", "psk": WIFI_PASSWORD},
        "mqtt": {"user": "gw", "pass": MQTT_PASSWORD, "Broker_Secret": "x-y-z", "apiKey": "k-1"},
        "console_token": DEVICE_TOKEN,
        "extras": [{"note": f"joined with {WIFI_PASSWORD}"}, {"sim": {"PIN": GSM_PIN}}],
        "log_tail": f"boot ok; token {DEVICE_TOKEN} loaded",
    }
    with django_capture_on_commit_callbacks(execute=True):
        got_config = answer(device, send_command(device, "get_config"), data=config_answer)
        failed = answer(
            device,
            send_command(device, "get_logs"),
            status="error",
            code="wifi_auth",
            msg=f"auth failed for Plant-A with password '{WIFI_PASSWORD}'",
        )

    stored = json.dumps([got_config.response, failed.error_message])
    for secret in (WIFI_PASSWORD, MQTT_PASSWORD, DEVICE_TOKEN, "x-y-z", "k-1"):
        assert secret not in stored, secret
    assert got_config.response["wifi"] == {"ssid": "Plant-A", "psk": "***"}
    assert got_config.response["extras"][1] == {"sim": {"PIN": "***"}}
    assert failed.error_message == "auth failed for Plant-A with password '***'"

    viewer = make_user(VIEWER)
    api = client_for(viewer).get(f"/api/devices/{device.device_id}/commands").content.decode()
    client.force_login(make_user(ADMIN))
    admin_pages = [
        client.get(reverse("admin:devices_command_change", args=[command.pk])).content.decode()
        for command in (got_config, failed)
    ]
    events = json.dumps([live_events.device(), live_events.fleet()], default=str)
    for shown in (api, *admin_pages, events):
        for secret in (WIFI_PASSWORD, MQTT_PASSWORD, DEVICE_TOKEN, GSM_PIN):
            assert secret not in shown, secret
