"""Firmware uploads, deploys and every operator action on a rollout leave an audit entry (issue 15)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from acuvim_console.audit.models import AuditAction, AuditLog
from firmware.models import Rollout
from tests.factories import make_device
from tests.firmware.conftest import image_file

pytestmark = pytest.mark.django_db


def entries(action):
    return list(AuditLog.objects.filter(action=action).order_by("ts", "pk"))


def test_upload_deploy_and_rollout_actions_are_audited_with_actor_and_address(api, admin_user, operator):
    api.force_authenticate(admin_user)
    assert api.post("/api/firmware", {"file": image_file("1.3.0")}, format="multipart").status_code == 201
    (uploaded,) = entries(AuditAction.FIRMWARE_UPLOADED)
    assert (uploaded.actor, uploaded.target, uploaded.ip) == (admin_user.username, "firmware 1.3.0", "127.0.0.1")
    assert len(uploaded.detail["sha256"]) == 64

    devices = [make_device() for _ in range(2)]
    api.force_authenticate(operator)
    created = api.post(
        "/api/firmware/deploy", {"version": "1.3.0", "device_ids": [d.device_id for d in devices]}, format="json"
    )
    assert created.status_code == 201, created.content
    rollout = Rollout.objects.get()
    (deployed,) = entries(AuditAction.FIRMWARE_DEPLOYED)
    assert deployed.actor == operator.username and str(rollout.pk) in deployed.target
    assert deployed.detail["devices"] == 2 and deployed.detail["version"] == "1.3.0"
    assert not AuditLog.objects.filter(action=AuditAction.COMMAND_SENT).exists()  # the deploy is the entry

    base = f"/api/firmware/rollouts/{rollout.pk}"
    for action in ("pause", "resume", "cancel"):
        assert api.post(f"{base}/{action}").status_code == 200, action
    for action in (AuditAction.ROLLOUT_PAUSED, AuditAction.ROLLOUT_RESUMED, AuditAction.ROLLOUT_CANCELLED):
        (entry,) = entries(action)
        assert entry.actor == operator.username and entry.target == deployed.target


def test_a_refused_upload_leaves_no_entry(api, admin_user):
    api.force_authenticate(admin_user)
    junk = SimpleUploadedFile("gateway.bin", b"not an ESP32 image" * 100)
    assert api.post("/api/firmware", {"file": junk}, format="multipart").status_code == 400
    assert not AuditLog.objects.filter(action=AuditAction.FIRMWARE_UPLOADED).exists()
