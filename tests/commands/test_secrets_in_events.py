"""Passwords in set_config params and get_config answers reach the gateway and the database, never a browser."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from acuvim_console.events import COMMAND_COMPLETED
from acuvim_console.mqtt.payloads import parse_response
from devices.choices import DeviceStatus
from devices.commands import handle_response, send_command, send_group_command
from devices.live import device_snapshot, recent_events
from devices.models import Command
from devices.roles import ADMIN
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
    assert asked.response["mqtt"]["password"] == MQTT_PASSWORD  # stored as answered
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
