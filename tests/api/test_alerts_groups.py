"""Alerts (filters, acknowledgement) and groups (CRUD, group commands, group firmware deployment)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from acuvim_console.protocol.enums import Severity
from alerts.models import Alert, AlertType
from devices.choices import CommandStatus, DeviceStatus
from devices.models import Command, CommandBatch, Device
from firmware.models import Rollout
from firmware.uploads import upload_firmware
from groups.models import DeviceGroup
from tests.factories import make_device, make_group
from tests.support.firmware_images import build_app_image

pytestmark = pytest.mark.django_db


def make_alert(device, alert_type=AlertType.OVERVOLTAGE, severity=Severity.WARNING, **fields):
    return Alert.objects.create(
        device=device, alert_type=alert_type, severity=severity, message=f"{alert_type} on {device}", **fields
    )


@pytest.fixture
def alerts(db):
    first, second = make_device(), make_device()
    return {
        "first": first,
        "open_warning": make_alert(first),
        "open_critical": make_alert(first, AlertType.MODBUS_LOSS, Severity.CRITICAL, acknowledged=True),
        "resolved": make_alert(second, AlertType.LOW_HEAP, Severity.INFO, resolved_at=timezone.now()),
    }


def ids(response):
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


def test_alert_filters(viewer_client, alerts):
    get = viewer_client.get
    assert ids(get("/api/alerts")) == {a.pk for k, a in alerts.items() if k != "first"}
    assert ids(get("/api/alerts", {"severity": "critical"})) == {alerts["open_critical"].pk}
    assert ids(get("/api/alerts", {"type": "low_heap"})) == {alerts["resolved"].pk}
    assert ids(get("/api/alerts", {"acknowledged": "false", "state": "open"})) == {alerts["open_warning"].pk}
    assert ids(get("/api/alerts", {"state": "resolved"})) == {alerts["resolved"].pk}
    assert ids(get("/api/alerts", {"device": alerts["first"].device_id})) == {
        alerts["open_warning"].pk,
        alerts["open_critical"].pk,
    }
    assert ids(get(f"/api/devices/{alerts['first'].device_id}/alerts", {"severity": "warning"})) == {
        alerts["open_warning"].pk
    }
    for bad in ({"severity": "apocalyptic"}, {"state": "maybe"}, {"since": "last tuesday"}, {"ordering": "x"}):
        assert get("/api/alerts", bad).status_code == 400, bad


def test_acknowledge_records_who_and_when_once(operator_client, users, alerts):
    alert = alerts["open_warning"]
    response = operator_client.put(f"/api/alerts/{alert.pk}/acknowledge")
    assert response.status_code == 200
    body = response.json()
    assert body["acknowledged"] is True and body["acknowledged_by"] == users["Operator"].username
    first_at = body["acknowledged_at"]
    again = operator_client.put(f"/api/alerts/{alert.pk}/acknowledge").json()
    assert again["acknowledged_at"] == first_at
    assert operator_client.put("/api/alerts/99999999/acknowledge").status_code == 404
    assert operator_client.put(f"/api/alerts/{2**70}/acknowledge").status_code == 404


def test_group_crud_with_device_counts(operator_client, admin_client):
    created = operator_client.post("/api/groups", {"name": "Plant North", "description": "A"}, format="json")
    assert created.status_code == 201 and created.json()["device_count"] == 0
    group = DeviceGroup.objects.get(name="Plant North")
    make_device(group=group)
    listed = operator_client.get("/api/groups").json()["results"]
    assert [(g["name"], g["device_count"]) for g in listed] == [("Plant North", 1)]
    duplicate = operator_client.post("/api/groups", {"name": "Plant North"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    renamed = operator_client.put(f"/api/groups/{group.pk}", {"name": "Plant N"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Plant N"
    assert operator_client.delete(f"/api/groups/{group.pk}").status_code == 403
    assert admin_client.delete(f"/api/groups/{group.pk}").status_code == 204
    assert Device.objects.get().group is None


def test_group_command_is_one_batch_for_the_accepted_members(operator_client):
    group = make_group()
    for status in (DeviceStatus.OFFLINE, DeviceStatus.OFFLINE, DeviceStatus.PENDING):
        make_device(group=group, status=status)
    response = operator_client.post(f"/api/groups/{group.pk}/command", {"command": "sync_time"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["summary"]["total"] == 2 and body["summary"][CommandStatus.PENDING] == 2
    assert CommandBatch.objects.get(pk=body["batch_id"]).commands.count() == 2
    bad = operator_client.post(
        f"/api/groups/{group.pk}/command", {"command": "set_transport", "params": {"mode": "pigeon"}}, format="json"
    )
    assert bad.status_code == 400 and "mode" in bad.json()
    assert Command.objects.count() == 2


def test_group_deploy_plans_and_starts_a_rollout_for_the_group_only(operator_client, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "firmware": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    upload_firmware(SimpleUploadedFile("gw.bin", build_app_image("1.3.0")))
    group = make_group()
    member = make_device(group=group, firmware_version="1.2.0", status=DeviceStatus.OFFLINE)
    make_device(firmware_version="1.2.0")  # not in the group
    url = f"/api/groups/{group.pk}/deploy"
    plan = operator_client.post(url, {"version": "1.3.0", "dry_run": True, "hardware": "x"}, format="json")
    assert plan.status_code == 200, plan.content
    assert plan.json()["eligible"] == [member.device_id]
    started = operator_client.post(url, {"version": "1.3.0"}, format="json")
    assert started.status_code == 201, started.content
    rollout = Rollout.objects.get()
    assert list(rollout.devices.values_list("device__device_id", flat=True)) == [member.device_id]
    assert operator_client.post(url, {"version": "7.7.7"}, format="json").status_code == 404
    assert operator_client.post(url, ["1.3.0"], format="json").status_code == 400


def test_a_nul_character_in_a_search_is_a_400_with_an_object_body(viewer_client):
    response = viewer_client.get("/api/groups", {"search": "Plant\x00A"})
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]  # refused at the door (acuvim_console.request_guards)
