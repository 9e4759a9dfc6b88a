"""`ota_update` reaches a gateway only through a firmware deploy of an uploaded, validated image.

Issue 15: an Operator's raw `ota_update` with a URL of their choosing was accepted and published,
skipping the Admin-only upload, the image validation and the rollout safeguards.
"""

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from devices.choices import DeviceStatus
from devices.models import Command
from tests.factories import make_device, make_group

pytestmark = pytest.mark.django_db

EVIL_OTA = {
    "command": "ota_update",
    "params": {"url": "http://evil.example/fw.bin", "sha256": "a" * 64, "version": "9.9.9", "size": 1000},
}


def test_api_refuses_a_raw_ota_update_from_operators_and_admins(operator_client, admin_client):
    device = make_device(status=DeviceStatus.OFFLINE)
    for client in (operator_client, admin_client):
        response = client.post(f"/api/devices/{device.device_id}/command", EVIL_OTA, format="json")
        assert response.status_code == 400
        assert "firmware deploy" in response.json()["command"]
    assert not Command.objects.exists()


def test_group_command_api_refuses_ota_update(operator_client):
    group = make_group()
    make_device(group=group, status=DeviceStatus.OFFLINE)
    response = operator_client.post(f"/api/groups/{group.pk}/command", EVIL_OTA, format="json")
    assert response.status_code == 400 and "firmware deploy" in json.dumps(response.json())
    assert not Command.objects.exists()


def test_send_command_cli_refuses_ota_update():
    device = make_device(status=DeviceStatus.OFFLINE)
    with pytest.raises(CommandError, match="ota_update is sent only by a firmware deploy"):
        call_command("send_command", device.device_id, "ota_update", "--params", json.dumps(EVIL_OTA["params"]))
    assert not Command.objects.exists()


def test_admin_command_forms_neither_offer_nor_accept_ota_update(client, users):
    client.force_login(users["Admin"])
    device = make_device(status=DeviceStatus.OFFLINE)
    changelist = reverse("admin:devices_device_changelist")
    selection = {"action": "send_command", "_selected_action": [device.pk]}
    form_page = client.post(changelist, selection).content.decode()
    assert 'value="ping"' in form_page and 'value="ota_update"' not in form_page
    applied = client.post(
        changelist, {**selection, "apply": "1", "command": "ota_update", "params": json.dumps(EVIL_OTA["params"])}
    )
    assert applied.status_code == 200 and b"not one of the available choices" in applied.content

    cockpit = client.post(
        reverse("admin:devices_device_command", args=[device.pk]), json.dumps(EVIL_OTA), content_type="application/json"
    )
    assert cockpit.status_code == 400 and "firmware deploy" in cockpit.json()["errors"]["command"]
    assert not Command.objects.exists()
