"""Firmware images through the REST API: upload, list, detail, change, delete, and the devices' update check."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from devices.registry.tokens import issue_token
from firmware.models import FirmwareVersion, Rollout, RolloutStatus
from tests.factories import make_device
from tests.firmware.conftest import image_file
from tests.support.firmware_images import build_app_image

pytestmark = pytest.mark.django_db


def upload(api, data=None, **fields):
    payload = {"file": image_file("1.3.0") if data is None else data, **fields}
    return api.post("/api/firmware", payload, format="multipart")


def test_admin_uploads_and_the_image_fills_the_record(api, admin_user):
    api.force_authenticate(admin_user)
    response = upload(api, release_notes="Modbus fixes", mandatory="true", hardware="TTGO T-Call v1.4")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == "1.3.0" and body["project_name"] == "acuvim-gateway" and body["chip"] == "ESP32"
    assert body["mandatory"] is True and body["hardware"] == "TTGO T-Call v1.4"
    assert body["uploaded_by"] == admin_user.username
    assert body["download_path"] == "/api/firmware/download/1.3.0"
    assert FirmwareVersion.objects.get().uploaded_by == admin_user


@pytest.mark.parametrize(
    ("data", "fields", "field", "reason"),
    [
        (SimpleUploadedFile("e.bin", b""), {}, "file", None),  # DRF refuses an empty file itself
        (SimpleUploadedFile("x.txt", b"hello"), {}, "file", "not_an_app_image"),
        (image_file("1.3.0"), {"version": "1.2.9"}, "version", "version_mismatch"),
    ],
)
def test_bad_uploads_are_400_with_the_field_to_blame(api, admin_user, data, fields, field, reason):
    api.force_authenticate(admin_user)
    response = upload(api, data, **fields)
    assert response.status_code == 400
    assert field in response.json()
    if reason:
        assert response.json()["reason"] == reason
    assert not FirmwareVersion.objects.exists()


def test_duplicate_and_oversize_uploads_are_400(api, admin_user, settings):
    api.force_authenticate(admin_user)
    assert upload(api).status_code == 201
    duplicate = upload(api)
    assert duplicate.status_code == 400 and duplicate.json()["reason"] == "duplicate_image"
    settings.FIRMWARE_MAX_BYTES = 4096
    big = upload(api, SimpleUploadedFile("big.bin", build_app_image("2.0.0", payload_size=8192)))
    assert big.status_code == 400 and big.json()["reason"] == "too_large"


def test_only_admins_upload_operators_and_viewers_read(api, operator, viewer, make_firmware):
    make_firmware("1.3.0")
    for user in (operator, viewer):
        api.force_authenticate(user)
        assert upload(api, image_file("1.4.0")).status_code == 403
        listing = api.get("/api/firmware")
        assert listing.status_code == 200
        assert [row["version"] for row in listing.json()["results"]] == ["1.3.0"]
    api.force_authenticate(None)
    assert api.get("/api/firmware").status_code == 401


def test_detail_change_and_delete(api, admin_user, make_firmware, firmware_dir, django_capture_on_commit_callbacks):
    firmware = make_firmware("1.3.0")
    stored = firmware_dir / firmware.file.name
    api.force_authenticate(admin_user)
    assert api.get("/api/firmware/1.3.0").json()["sha256"] == firmware.sha256
    changed = api.patch("/api/firmware/1.3.0", {"active": False, "release_notes": "withdrawn"}, format="json")
    assert changed.status_code == 200 and changed.json()["active"] is False
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete("/api/firmware/1.3.0").status_code == 204
    assert not FirmwareVersion.objects.exists() and not stored.exists()
    assert api.get("/api/firmware/1.3.0").status_code == 404


def test_delete_is_refused_while_a_rollout_uses_the_version(api, admin_user, make_firmware):
    firmware = make_firmware("1.3.0")
    rollout = Rollout.objects.create(firmware=firmware, status=RolloutStatus.PAUSED)
    api.force_authenticate(admin_user)
    response = api.delete("/api/firmware/1.3.0")
    assert response.status_code == 409 and str(rollout.pk) in response.json()["detail"]
    Rollout.objects.filter(pk=rollout.pk).update(status=RolloutStatus.COMPLETED)
    assert api.delete("/api/firmware/1.3.0").status_code == 204


# --- GET /api/firmware/check ---------------------------------------------------------------------


def check(api, token=None, **query):
    headers = {"HTTP_AUTHORIZATION": f"Device {token}"} if token else {}
    return api.get("/api/firmware/check", query, **headers)


@pytest.fixture
def catalogue(make_firmware):
    make_firmware("1.9.2")
    make_firmware("1.10.0", release_notes="ten")
    make_firmware("1.11.0-rc.1")
    make_firmware("2.0.0", hardware="Other board")
    inactive = make_firmware("1.12.0")
    inactive.active = False
    inactive.save()


def test_check_offers_the_semver_newest_release_with_a_signed_url(api, catalogue):
    device = make_device(firmware_version="1.9.2", hardware="TTGO T-Call v1.4")
    token = issue_token(device)
    body = check(api, token, device_id=device.device_id, current_version="1.9.2", hardware=device.hardware).json()
    assert body["update_available"] is True and body["version"] == "1.10.0"  # not 1.9.2 by string order
    assert body["release_notes"] == "ten" and body["mandatory"] is False
    fw = FirmwareVersion.objects.get(version="1.10.0")
    assert (body["size"], body["sha256"]) == (fw.file_size, fw.sha256)
    assert body["url"].startswith("http://console.test/api/firmware/download/1.10.0?device_id=" + device.device_id)
    download = api.get(body["url"].removeprefix("http://console.test"))
    assert download.status_code == 200


def test_check_without_query_uses_what_the_device_reported(api, catalogue):
    device = make_device(firmware_version="1.10.0", hardware="TTGO T-Call v1.4")
    assert check(api, issue_token(device)).json() == {"update_available": False}


def test_check_semantics_prerelease_hardware_inactive_and_mandatory(api, catalogue, make_firmware, viewer):
    api.force_authenticate(viewer)
    # A device on a pre-release is offered the newer pre-release; releases never see it.
    assert check(api, current_version="1.11.0-beta.2", hardware="x").json()["version"] == "1.11.0-rc.1"
    assert check(api, current_version="1.10.0", hardware="x").json() == {"update_available": False}
    # Hardware-specific images go to that hardware only; inactive ones to nobody.
    assert check(api, current_version="1.10.0", hardware="other BOARD").json()["version"] == "2.0.0"
    # A mandatory release on the way makes the offer mandatory even if the newest is not.
    make_firmware("1.9.5", mandatory=True)
    offer = check(api, current_version="1.9.2", hardware="TTGO").json()
    assert offer["version"] == "1.10.0" and offer["mandatory"] is True
    assert offer["url"] == "http://console.test/api/firmware/download/1.10.0"
    # A release is newer than its own release candidates.
    FirmwareVersion.objects.filter(version="1.11.0-rc.1").update(active=False)
    assert check(api, current_version="1.10.0-rc.1", hardware="x").json()["version"] == "1.10.0"


def test_check_refuses_bad_versions_strangers_and_foreign_device_ids(api, catalogue):
    device = make_device()
    token = issue_token(device)
    assert check(api, token, current_version="banana").status_code == 400
    assert check(api, token, device_id=make_device().device_id).status_code == 403
    assert check(api).status_code == 401
    assert check(api, "acvt_wrong").status_code == 401
