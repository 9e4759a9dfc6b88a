"""Device endpoints: list filters, pagination and ordering at fleet scale, updates, commands, config."""

import json
import uuid

import pytest
from django.utils import timezone

from acuvim_console.protocol.enums import CommandName
from devices.api.serializers import DeviceUpdateSerializer
from devices.choices import CommandStatus, DeviceStatus
from devices.control.config_push import push_config
from devices.models import Command, Device
from tests.factories import make_device, make_group, next_device_id

pytestmark = pytest.mark.django_db
FLEET = 3000
STATUS_CYCLE = (
    DeviceStatus.ONLINE,
    DeviceStatus.ONLINE,
    DeviceStatus.OFFLINE,
    DeviceStatus.DEGRADED,
    DeviceStatus.PENDING,
)


@pytest.fixture
def fleet(db):
    """3,000 devices: a status cycle, two groups, three firmware versions, every 10th tagged 'north'."""
    groups = [make_group("Plant A"), make_group("Plant B")]
    now = timezone.now()
    Device.objects.bulk_create(
        Device(
            device_id=next_device_id(),
            name=f"Meter-{index:05d}",
            status=STATUS_CYCLE[index % len(STATUS_CYCLE)],
            group=groups[index % 2] if index % 3 else None,
            firmware_version=("1.0.0", "1.1.0", "1.2.0")[index % 3],
            tags=["north", "hv"] if index % 10 == 0 else ["south"],
            last_heartbeat=now,
        )
        for index in range(FLEET)
    )
    return {"groups": groups}


def test_list_paginates_fifty_by_default_with_count_and_links(viewer_client, fleet):
    body = viewer_client.get("/api/devices").json()
    assert body["count"] == FLEET and len(body["results"]) == 50
    assert body["next"].endswith("page=2") and body["previous"] is None
    last = viewer_client.get("/api/devices", {"page": "last", "page_size": 500}).json()
    assert len(last["results"]) == FLEET - 5 * 500 and last["next"] is None


def test_filters_combine(viewer_client, fleet):
    def count(**params):
        response = viewer_client.get("/api/devices", params)
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count(status="online") == Device.objects.filter(status="online").count() == FLEET * 2 // 5
    assert count(status=["offline", "degraded"]) == FLEET * 2 // 5
    plant_a = fleet["groups"][0]
    assert count(group=str(plant_a.pk)) == Device.objects.filter(group=plant_a).count()
    assert count(ungrouped="true") == FLEET // 3
    assert count(firmware_version="1.1.0") == FLEET // 3
    assert count(tag="north") == FLEET // 10
    assert (
        count(tag="north", status="online") == Device.objects.filter(tags__contains=["north"], status="online").count()
    )
    assert count(search="Meter-0001") == 10  # Meter-00010..00019
    assert count(search="meter-02999") == 1


def test_ordering_and_page_size(viewer_client, fleet):
    names = [
        d["name"] for d in viewer_client.get("/api/devices", {"ordering": "-name", "page_size": 3}).json()["results"]
    ]
    assert names == ["Meter-02999", "Meter-02998", "Meter-02997"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "9999"}, "page"),
        ({"page_size": "100000"}, "page_size"),
        ({"ordering": "token_hash"}, "ordering"),
        ({"status": "sleeping"}, "status"),
        ({"group": "not-a-uuid"}, "group"),
        ({"group": str(uuid.uuid4())}, "group"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_field(viewer_client, params, field):
    make_device()
    response = viewer_client.get("/api/devices", params)
    assert response.status_code == 400
    assert field in response.json()


def test_device_output_never_contains_the_token_hash(viewer_client):
    device = make_device(token_hash="a" * 64)
    detail = viewer_client.get(f"/api/devices/{device.device_id}").json()
    listed = viewer_client.get("/api/devices").json()["results"][0]
    assert "token_hash" not in detail and "token_hash" not in listed
    assert "a" * 64 not in json.dumps([detail, listed])


def test_operator_updates_name_group_and_tags_but_not_reported_fields(operator_client):
    device = make_device(firmware_version="1.0.0")
    group = make_group()
    response = operator_client.put(
        f"/api/devices/{device.device_id}",
        {"name": "Main incomer", "group": str(group.pk), "tags": ["hv", " north ", "hv"], "firmware_version": "9.9"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Main incomer" and body["group_name"] == group.name and body["tags"] == ["hv", "north"]
    assert body["firmware_version"] == "1.0.0"
    bad = operator_client.patch(f"/api/devices/{device.device_id}", {"tags": "hv", "group": "x"}, format="json")
    assert bad.status_code == 400 and {"tags", "group"} <= set(bad.json())


def test_admin_deletes_a_device(admin_client):
    device = make_device()
    assert admin_client.delete(f"/api/devices/{device.device_id}").status_code == 204
    assert not Device.objects.filter(pk=device.pk).exists()
    assert admin_client.get(f"/api/devices/{device.device_id}").status_code == 404


def test_status_endpoint(viewer_client):
    device = make_device(status=DeviceStatus.DEGRADED, signal_strength=-71)
    body = viewer_client.get(f"/api/devices/{device.device_id}/status").json()
    assert body["status"] == "degraded" and body["signal_strength"] == -71 and body["device_id"] == device.device_id


def test_command_to_an_offline_device_is_queued_pending(operator_client, users):
    device = make_device(status=DeviceStatus.OFFLINE)
    response = operator_client.post(
        f"/api/devices/{device.device_id}/command", {"command": "wifi_scan", "params": {}}, format="json"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == CommandStatus.PENDING and body["request_id"] and body["command"] == "wifi_scan"
    command = Command.objects.get(request_id=body["request_id"])
    assert command.device == device and command.created_by.username == body["created_by"]


def test_command_is_published_to_a_reachable_device(
    operator_client, settings, mqtt_broker, django_capture_on_commit_callbacks
):
    settings.MQTT_URL = mqtt_broker.url
    device = make_device(status=DeviceStatus.ONLINE)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/api/devices/{device.device_id}/command", {"command": "ping"}, format="json")
    assert response.status_code == 202
    assert Command.objects.get(request_id=response.json()["request_id"]).status == CommandStatus.SENT


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"command": "self_destruct"}, {"command"}),
        ({}, {"command"}),
        ({"command": "modbus_read", "params": {"addr": 4000, "count": 500}}, {"count"}),
        ({"command": "modbus_read", "params": {}}, {"addr", "count"}),
        ({"command": "ping", "params": []}, {"params"}),
        ({"command": "ping", "timeout_s": 0}, {"timeout_s"}),
    ],
)
def test_bad_commands_are_400_with_field_errors(operator_client, body, fields):
    device = make_device(status=DeviceStatus.OFFLINE)
    response = operator_client.post(f"/api/devices/{device.device_id}/command", body, format="json")
    assert response.status_code == 400, response.content
    assert fields <= set(response.json()), response.json()
    assert not Command.objects.exists()


def test_commands_to_unaccepted_devices_are_refused(operator_client):
    device = make_device(status=DeviceStatus.PENDING)
    response = operator_client.post(f"/api/devices/{device.device_id}/command", {"command": "ping"}, format="json")
    assert response.status_code == 409


def test_command_history_is_paginated_filtered_and_redacts_secrets(viewer_client, users):
    device = make_device(status=DeviceStatus.OFFLINE)
    push_config(device, {"wifi": {"ssid": "plant", "password": "hunter2-wifi"}}, user=users["Operator"])
    Command.objects.filter(device=device).update(response={"config": {"mqtt": {"password": "hunter3-mqtt"}}})
    for _ in range(60):
        Command.objects.create(
            device=device,
            request_id=uuid.uuid4().hex,
            command=CommandName.PING,
            expires_at=timezone.now(),
            status=CommandStatus.SUCCESS,
        )
    page = viewer_client.get(f"/api/devices/{device.device_id}/commands")
    assert page.status_code == 200 and page.json()["count"] == 61 and len(page.json()["results"]) == 50
    set_config = viewer_client.get(f"/api/devices/{device.device_id}/commands", {"command": "set_config"}).json()
    assert set_config["count"] == 1
    item = set_config["results"][0]
    assert item["params"]["wifi"] == {"ssid": "plant", "password": "***"}
    assert "hunter" not in page.content.decode() + json.dumps(set_config)
    assert viewer_client.get(f"/api/devices/{device.device_id}/commands", {"status": "bogus"}).status_code == 400


def test_config_is_redacted_and_a_push_stores_a_version_and_sends_set_config(operator_client):
    device = make_device(status=DeviceStatus.OFFLINE)
    initial = operator_client.get(f"/api/devices/{device.device_id}/config").json()
    assert initial["version"] is None and initial["document"]["modbus"]["baud"] == 19200
    pushed = operator_client.post(
        f"/api/devices/{device.device_id}/config",
        {"wifi": {"ssid": "plant", "password": "hunter2-wifi"}, "intervals": {"telemetry_s": 10}},
        format="json",
    )
    assert pushed.status_code == 202, pushed.content
    body = pushed.json()
    assert body["config"]["version"] == 1 and body["command"]["command"] == "set_config"
    assert body["config"]["document"]["wifi"]["password"] == "***" and body["config"]["config_drift"] is True
    again = operator_client.get(f"/api/devices/{device.device_id}/config")
    assert "hunter2" not in pushed.content.decode() + again.content.decode()
    assert again.json()["document"]["intervals"]["telemetry_s"] == 10


def test_bad_config_is_400_per_setting(operator_client):
    device = make_device(status=DeviceStatus.OFFLINE)
    response = operator_client.post(
        f"/api/devices/{device.device_id}/config", {"modbus": {"baud": 1234}, "colour": "red"}, format="json"
    )
    assert response.status_code == 400
    assert "modbus.baud" in json.dumps(response.json()) and "colour" in json.dumps(response.json())
    assert operator_client.post(f"/api/devices/{device.device_id}/config", [], format="json").status_code == 400


def test_wifi_scan_is_a_post_that_sends_the_command_and_returns_it(operator_client):
    device = make_device(status=DeviceStatus.OFFLINE)
    response = operator_client.post(f"/api/devices/{device.device_id}/config/wifi/scan")
    assert response.status_code == 202 and response.json()["command"] == "wifi_scan"
    assert Command.objects.filter(device=device, command="wifi_scan").count() == 1


def test_wifi_scan_by_get_is_refused_and_sends_nothing(operator_client):
    device = make_device(status=DeviceStatus.OFFLINE)
    assert operator_client.get(f"/api/devices/{device.device_id}/config/wifi/scan").status_code in (403, 405)
    assert not Command.objects.filter(device=device).exists()


def test_unknown_device_is_404(viewer_client):
    for suffix in ("", "/status", "/commands", "/config", "/telemetry", "/alerts"):
        assert viewer_client.get(f"/api/devices/ACV-000000000000{suffix}").status_code == 404, suffix


def test_time_filters_accept_any_offset_python_does_and_refuse_overflow(viewer_client):
    device = make_device()
    url = f"/api/devices/{device.device_id}/commands"
    assert viewer_client.get(url, {"since": "0747-04-25T01:42:28.65+21:42"}).status_code == 200
    assert viewer_client.get(url, {"since": "0001-01-01T00:00:00+05:00"}).status_code == 400
    assert viewer_client.get("/api/alerts", {"until": "2026-11-01T00:00:00-23:59"}).status_code == 200


def test_an_edit_does_not_overwrite_health_reported_meanwhile():
    device = make_device(signal_strength=-90)
    loaded_by_the_request = Device.objects.get(pk=device.pk)
    Device.objects.filter(pk=device.pk).update(signal_strength=-60, boot_count=7)  # a heartbeat lands meanwhile
    form = DeviceUpdateSerializer(loaded_by_the_request, data={"name": "Feeder 2"}, partial=True)
    assert form.is_valid(), form.errors
    form.save()
    device.refresh_from_db()
    assert (device.name, device.signal_strength, device.boot_count) == ("Feeder 2", -60, 7)


def test_unknown_api_paths_and_malformed_ids_get_a_json_404(viewer_client):
    for path in ("/api/groups/not-a-uuid", "/api/alerts/x/acknowledge", "/api/nothing-here", "/api/devices/"):
        response = viewer_client.get(path)
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}, path
