"""Deployments and rollout actions through the REST API."""

import pytest

from devices.choices import DeviceStatus
from firmware.models import OtaState, Rollout, RolloutStatus
from firmware.rollouts import advance_rollouts
from tests.factories import make_device, make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def firmware(make_firmware):
    return make_firmware("1.3.0")


def deploy(api, **body):
    return api.post("/api/firmware/deploy", {"version": "1.3.0", **body}, format="json")


def test_dry_run_lists_eligible_and_skipped_devices_without_touching_anything(api, operator, firmware):
    ok = make_device()
    current = make_device(firmware_version="1.3.0")
    api.force_authenticate(operator)
    response = deploy(api, device_ids=[ok.device_id, current.device_id], dry_run=True)
    assert response.status_code == 200
    assert response.json() == {
        "version": "1.3.0",
        "eligible": [ok.device_id],
        "skipped": [{"device_id": current.device_id, "reason": "already runs 1.3.0"}],
    }
    assert not Rollout.objects.exists()


def test_deploy_to_a_group_by_name_creates_a_rollout_with_waves(api, operator, firmware):
    group = make_group("Plant A")
    members = [make_device(group=group) for _ in range(4)]
    make_device()  # not in the group
    api.force_authenticate(operator)
    response = deploy(api, group="Plant A", wave_size=2, max_failures=1, name="Plant A to 1.3.0")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "running" and body["wave_count"] == 2 and body["current_wave"] == 1
    assert body["counts"]["sent"] == 2 and body["counts"]["queued"] == 2
    assert body["target"]["group_name"] == "Plant A"
    rollout = Rollout.objects.get()
    assert set(rollout.devices.values_list("device__device_id", flat=True)) == {d.device_id for d in members}
    assert deploy(api, group=str(group.pk), dry_run=True).json()["skipped"][0]["reason"].startswith("already in")


def test_deploy_by_hardware_targets_every_device_of_that_hardware(api, operator, firmware):
    board = [make_device(hardware="Board X") for _ in range(2)]
    make_device(hardware="Board Y")
    api.force_authenticate(operator)
    response = deploy(api, hardware="board x")
    assert response.status_code == 201
    assert Rollout.objects.get().devices.count() == len(board)


def test_deploy_refusals(api, operator, viewer, firmware):
    device = make_device(firmware_version="1.3.0")
    api.force_authenticate(viewer)
    assert deploy(api, device_ids=[device.device_id]).status_code == 403
    api.force_authenticate(operator)
    assert deploy(api, device_ids=[device.device_id]).status_code == 400  # nobody eligible
    assert "ACV-FFFFFFFFFFFF" in deploy(api, device_ids=["ACV-FFFFFFFFFFFF"]).json()["detail"]
    assert deploy(api, device_ids=[device.device_id], group="x").status_code == 400
    assert deploy(api, device_ids=[device.device_id], wave_size=2, wave_percent=10).status_code == 400
    assert deploy(api, version="9.9.9", device_ids=[device.device_id]).status_code == 404


def test_downgrade_needs_allow_downgrade(api, operator, firmware):
    newer = make_device(firmware_version="1.4.0")
    api.force_authenticate(operator)
    assert "downgrade" in deploy(api, device_ids=[newer.device_id]).json()["detail"]
    assert deploy(api, device_ids=[newer.device_id], allow_downgrade=True).status_code == 201


def test_rollout_list_detail_and_actions(api, operator, viewer, firmware):
    devices = [make_device() for _ in range(3)]
    api.force_authenticate(operator)
    rollout_id = deploy(api, device_ids=[d.device_id for d in devices], wave_size=1).json()["id"]
    base = f"/api/firmware/rollouts/{rollout_id}"

    api.force_authenticate(viewer)
    assert api.get("/api/firmware/rollouts").json()["results"][0]["id"] == rollout_id
    detail = api.get(base).json()
    assert [row["state"] for row in detail["devices"]] == ["sent", "queued", "queued"]
    assert api.post(f"{base}/pause").status_code == 403

    api.force_authenticate(operator)
    assert api.post(f"{base}/pause").json()["status"] == "paused"
    assert api.post(f"{base}/pause").status_code == 409
    assert api.post(f"{base}/resume").json()["status"] == "running"
    assert api.post(f"{base}/retry").status_code == 409  # nothing failed yet
    Rollout.objects.get(pk=rollout_id).devices.filter(state=OtaState.SENT).update(state=OtaState.FAILED)
    retried = api.post(f"{base}/retry").json()
    assert retried["retried"] == 1 and retried["rollout"]["counts"]["sent"] == 1
    assert api.post(f"{base}/cancel").json()["status"] == "cancelled"
    assert api.post(f"{base}/resume").status_code == 409


def test_deleted_or_decommissioned_devices_are_skipped_when_their_wave_comes(api, operator, firmware):
    first, second = make_device(), make_device()
    api.force_authenticate(operator)
    response = deploy(api, device_ids=[first.device_id, second.device_id], wave_size=1, success_ratio=1.0)
    rollout_id = response.json()["id"]
    second.status = DeviceStatus.DECOMMISSIONED
    second.save()
    rollout = Rollout.objects.get(pk=rollout_id)
    rollout.devices.filter(device=first).update(state=OtaState.FAILED)
    advance_rollouts()  # wave 1 ended short of 100%
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED
    api.post(f"/api/firmware/rollouts/{rollout_id}/resume")
    row = rollout.devices.get(device=second)
    assert row.state == OtaState.CANCELLED and "decommissioned" in row.reason
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED
