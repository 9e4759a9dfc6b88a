"""The firmware admin as an operator uses it: upload, deploy with a dry run, steer a rollout."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from devices.choices import DeviceStatus
from firmware.models import FirmwareVersion, OtaState, Rollout, RolloutStatus
from firmware.rollouts import create_rollout
from tests.factories import make_device, make_group
from tests.firmware.conftest import image_file
from tests.support.firmware_images import Corruption, build_app_image

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:firmware_firmwareversion_add")


def deploy_url(firmware):
    return reverse("admin:firmware_firmwareversion_deploy", args=[firmware.pk])


def rollout_url(rollout):
    return reverse("admin:firmware_rollout_change", args=[rollout.pk])


def post_upload(client, file, **fields):
    data = {"file": file, "version": "", "release_notes": "", "hardware": "", **fields}
    return client.post(ADD_URL, data)


def test_admin_upload_form_stores_the_image_with_its_own_version(client, admin_user):
    client.force_login(admin_user)
    response = post_upload(client, image_file("1.5.0"), release_notes="Notes")
    assert response.status_code == 302
    firmware = FirmwareVersion.objects.get()
    assert (firmware.version, firmware.release_notes, firmware.uploaded_by) == ("1.5.0", "Notes", admin_user)
    page = client.get(reverse("admin:firmware_firmwareversion_change", args=[firmware.pk])).content.decode()
    assert firmware.sha256 in page and "Deploy 1.5.0" in page


@pytest.mark.parametrize(
    ("make_file", "fields", "message"),
    [
        (lambda: image_file("1.5.0"), {"version": "1.6.0"}, "does not match the version inside the image"),
        (lambda: SimpleUploadedFile("a.txt", b"just text"), {}, "not an ESP32 app image"),
        (lambda: SimpleUploadedFile("b.bin", build_app_image(corruption=Corruption.TRUNCATED)), {}, "truncated"),
    ],
)
def test_admin_upload_form_shows_why_an_image_is_refused(client, admin_user, make_file, fields, message):
    client.force_login(admin_user)
    response = post_upload(client, make_file(), **fields)
    assert response.status_code == 200
    assert message.lower() in response.content.decode().lower()
    assert not FirmwareVersion.objects.exists()


def test_admin_upload_form_refuses_duplicates_empty_and_oversize(client, admin_user, settings):
    client.force_login(admin_user)
    post_upload(client, image_file("1.5.0"))
    assert "already uploaded as version 1.5.0" in post_upload(client, image_file("1.5.0")).content.decode()
    empty = post_upload(client, SimpleUploadedFile("e.bin", b"")).content.decode()
    assert "The submitted file is empty" in empty
    settings.FIRMWARE_MAX_BYTES = 4096
    assert "at most 4096 bytes" in post_upload(client, image_file("1.6.0", payload_size=8192)).content.decode()
    assert FirmwareVersion.objects.count() == 1


def test_operators_cannot_upload(client, operator):
    client.force_login(operator)
    assert post_upload(client, image_file("1.5.0")).status_code == 403


def test_deploy_form_takes_devices_from_the_changelist_action(client, operator, make_firmware):
    firmware = make_firmware("1.3.0")
    devices = [make_device(), make_device()]
    client.force_login(operator)
    response = client.get(deploy_url(firmware), {"devices": ",".join(d.device_id for d in devices)})
    assert response.status_code == 200
    assert f"{devices[0].device_id} {devices[1].device_id}" in response.content.decode()


def test_deploy_form_takes_the_group_from_the_group_action(client, operator, make_firmware):
    firmware = make_firmware("1.3.0")
    group = make_group("Plant B")
    client.force_login(operator)
    page = client.get(deploy_url(firmware), {"group": str(group.pk)}).content.decode()
    assert f'<option value="{group.pk}" selected>Plant B</option>' in page


def test_dry_run_lists_who_is_updated_and_who_is_skipped_then_confirm_starts_the_rollout(
    client, operator, make_firmware
):
    firmware = make_firmware("1.3.0")
    group = make_group("Substation 4")
    ready = [make_device(group=group) for _ in range(3)]
    current = make_device(group=group, firmware_version="1.3.0")
    gone = make_device(group=group, status=DeviceStatus.DECOMMISSIONED)
    client.force_login(operator)
    form = {"group": str(group.pk), "wave_size": "2", "success_ratio": "0.9", "max_failures": "1"}
    preview = client.post(deploy_url(firmware), form)
    page = preview.content.decode()
    assert preview.status_code == 200 and "Confirm deployment" in page
    assert "<strong>3</strong> devices will receive 1.3.0" in page and "2 waves (2, 1 devices)" in page
    assert f'data-device-id="{current.device_id}"><td>{current.device_id}</td><td>already runs 1.3.0' in page
    assert "device is decommissioned" in page and gone.device_id in page
    assert not Rollout.objects.exists()  # a dry run sends nothing

    confirmed = client.post(deploy_url(firmware), {**form, "confirm": "Start"})
    rollout = Rollout.objects.get()
    assert confirmed.status_code == 302 and confirmed["Location"] == rollout_url(rollout)
    assert set(rollout.devices.values_list("device_id", flat=True)) == {d.pk for d in ready}
    assert (rollout.wave_count, rollout.max_failures, rollout.created_by) == (2, 1, operator)
    assert rollout.target["group_name"] == "Substation 4" and rollout.target["skipped_count"] == 2


def test_deploy_form_errors_are_shown(client, operator, make_firmware):
    firmware = make_firmware("1.3.0")
    client.force_login(operator)
    page = client.post(deploy_url(firmware), {"success_ratio": "0.9"}).content.decode()
    assert "Choose exactly one target" in page
    page = client.post(deploy_url(firmware), {"devices": "ACV-0000000000FF", "success_ratio": "0.9"}).content.decode()
    assert "Unknown devices: ACV-0000000000FF" in page


def test_viewers_cannot_deploy(client, viewer, make_firmware):
    firmware = make_firmware("1.3.0")
    client.force_login(viewer)
    assert client.get(deploy_url(firmware)).status_code == 403
    changelist = client.get(reverse("admin:firmware_firmwareversion_changelist")).content.decode()
    assert "1.3.0" in changelist and deploy_url(firmware) not in changelist
    page = client.get(reverse("admin:firmware_firmwareversion_change", args=[firmware.pk])).content.decode()
    assert firmware.sha256 in page and "Deploy 1.3.0" not in page


def test_rollout_page_shows_waves_device_states_and_live_hooks(client, operator, make_firmware):
    firmware = make_firmware("1.3.0")
    devices = [make_device() for _ in range(3)]
    rollout = create_rollout(firmware, devices, user=operator, wave_size=2)
    rollout.devices.filter(device=devices[0]).update(state=OtaState.DOWNLOADING, progress=40)
    client.force_login(operator)
    page = client.get(rollout_url(rollout)).content.decode()
    assert f'data-rollout-id="{rollout.pk}"' in page
    assert f'data-rollout-device="{devices[0].device_id}"' in page
    assert 'data-rollout-field="progress" max="100" value="40"' in page
    assert '<span data-rollout-count="queued">1</span>' in page
    assert "Wave 2" in page and 'name="pause"' in page and 'name="retry"' not in page


def test_rollout_buttons_pause_resume_retry_and_cancel(client, operator, viewer, make_firmware):
    firmware = make_firmware("1.3.0")
    rollout = create_rollout(firmware, [make_device(), make_device()], user=operator, wave_size=1)

    def act(action):
        return client.post(reverse("admin:firmware_rollout_action", args=[rollout.pk, action]), follow=True)

    client.force_login(viewer)
    assert client.get(rollout_url(rollout)).status_code == 200
    assert act("pause").status_code == 403
    client.force_login(operator)
    assert "Rollout paused." in act("pause").content.decode()
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED
    assert "Only a paused rollout" not in act("resume").content.decode()
    rollout.devices.filter(state=OtaState.SENT).update(state=OtaState.FAILED, reason="download_failed")
    page = act("retry").content.decode()
    assert "Failed devices queued again." in page
    assert "No failed devices to retry" in act("retry").content.decode()
    act("cancel")
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.CANCELLED


def test_admin_delete_is_refused_while_a_rollout_deploys_the_version(
    client, admin_user, make_firmware, firmware_dir, django_capture_on_commit_callbacks
):
    firmware = make_firmware("1.3.0")
    stored = firmware_dir / firmware.file.name
    rollout = create_rollout(firmware, [make_device()], user=admin_user)
    delete_url = reverse("admin:firmware_firmwareversion_delete", args=[firmware.pk])
    client.force_login(admin_user)
    refused = client.post(delete_url, {"post": "yes"})
    assert refused.status_code == 200 and f"Rollout {rollout} (running)" in refused.content.decode()
    assert FirmwareVersion.objects.exists()
    Rollout.objects.filter(pk=rollout.pk).update(status=RolloutStatus.COMPLETED)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not FirmwareVersion.objects.exists() and not Rollout.objects.exists() and not stored.exists()
