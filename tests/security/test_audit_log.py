"""The audit log: every operator action and user change is recorded, nothing can be changed or deleted,
the admin shows it read-only, and `GET /api/audit` serves it to Admins only (issue 15)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.utils import DatabaseError
from django.urls import reverse

from acuvim_console.audit.models import AppendOnly, AuditAction, AuditLog
from acuvim_console.audit.recording import record
from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER
from devices.choices import DeviceStatus
from tests.factories import make_device, make_group

pytestmark = pytest.mark.django_db


def only(action, **filters) -> AuditLog:
    (entry,) = AuditLog.objects.filter(action=action, **filters)
    return entry


def test_commands_config_pushes_and_group_commands_are_audited(operator_client, users):
    device = make_device(status=DeviceStatus.OFFLINE)
    group = make_group()
    device.group = group
    device.save(update_fields=["group"])
    url = f"/api/devices/{device.device_id}"
    assert operator_client.post(f"{url}/command", {"command": "ping"}, format="json").status_code == 202
    pushed = {"wifi": {"ssid": "Plant-A", "password": "wifi-secret-9"}}
    assert operator_client.post(f"{url}/config", pushed, format="json").status_code == 202
    assert operator_client.post(f"/api/groups/{group.pk}/command", {"command": "sync_time"}, format="json").status_code
    operator = users[OPERATOR].username

    command = only(AuditAction.COMMAND_SENT)
    assert (command.actor, command.target, command.ip, command.detail["command"]) == (
        operator,
        f"device {device.device_id}",
        "127.0.0.1",
        "ping",
    )
    config = only(AuditAction.CONFIG_PUSHED)
    assert config.detail["changes"] == {"wifi": {"ssid": "Plant-A", "password": "***"}}
    assert "wifi-secret-9" not in str(AuditLog.objects.values_list("detail", flat=True))
    batch = only(AuditAction.GROUP_COMMAND_SENT)
    assert batch.target == f"group {group.name}" and batch.detail["devices"] == 1


def test_refused_commands_leave_no_entry(operator_client):
    device = make_device(status=DeviceStatus.OFFLINE)
    response = operator_client.post(
        f"/api/devices/{device.device_id}/command", {"command": "get_logs", "params": {"lines": 0}}, format="json"
    )
    assert response.status_code == 400 and not AuditLog.objects.filter(action=AuditAction.COMMAND_SENT).exists()


def test_approval_decommission_and_token_issue_in_the_admin_are_audited(client, users):
    client.force_login(users[ADMIN])
    pending, retired = make_device(status=DeviceStatus.PENDING), make_device()
    changelist = reverse("admin:devices_device_changelist")
    client.post(changelist, {"action": "approve_devices", "_selected_action": [pending.pk]})
    client.post(changelist, {"action": "decommission_devices", "_selected_action": [retired.pk]})
    client.post(changelist, {"action": "issue_tokens", "_selected_action": [pending.pk]})
    admin = users[ADMIN].username
    assert (only(AuditAction.DEVICE_APPROVED).actor, only(AuditAction.DEVICE_APPROVED).target) == (
        admin,
        f"device {pending.device_id}",
    )
    assert only(AuditAction.DEVICE_DECOMMISSIONED).target == f"device {retired.device_id}"
    token_entry = only(AuditAction.DEVICE_TOKEN_ISSUED)
    assert token_entry.actor == admin and token_entry.detail == {}


def test_provisioning_from_the_shell_is_audited_without_actor():
    from django.core.management import call_command

    call_command("provision_device", "ACV-AABBCCDDEEF1", "--name", "Feeder 4")
    assert only(AuditAction.DEVICE_PROVISIONED).actor == ""
    assert only(AuditAction.DEVICE_TOKEN_ISSUED).ip is None


def test_user_creation_role_password_and_deactivation_are_audited(admin_client, users):
    response = admin_client.post(
        "/api/auth/register",
        {"username": "field-eng", "password": "a-long-passphrase-1", "role": VIEWER},
        format="json",
    )
    assert response.status_code == 201
    target = "user field-eng"
    assert only(AuditAction.USER_CREATED, target=target).actor == users[ADMIN].username
    assert only(AuditAction.USER_ROLE_CHANGED, target=target).detail == {"change": "add", "roles": [VIEWER]}

    user = type(users[ADMIN]).objects.get(username="field-eng")
    user.groups.add(Group.objects.get(name=OPERATOR))
    user.set_password("another-passphrase-2")
    user.email = "fe@example.com"
    user.save()
    user.is_active = False
    user.save()
    assert AuditLog.objects.filter(action=AuditAction.USER_ROLE_CHANGED, target=target).count() == 2
    assert only(AuditAction.USER_PASSWORD_CHANGED).target == target
    assert only(AuditAction.USER_DEACTIVATED).target == target
    changed = only(AuditAction.USER_CHANGED)
    assert changed.detail == {"fields": {"email": ["", "fe@example.com"]}}
    assert "password" not in str(changed.detail)


def test_role_permission_changes_and_user_deletion_are_audited(users):
    role = Group.objects.get(name=VIEWER)
    permission = Permission.objects.get(content_type__app_label="devices", codename="send_command")
    earlier = list(AuditLog.objects.values_list("pk", flat=True))  # the roles' own setup is audited too
    role.permissions.add(permission)
    role.permissions.remove(permission)
    changes = AuditLog.objects.filter(action=AuditAction.ROLE_PERMISSIONS_CHANGED, target=f"role {VIEWER}").exclude(
        pk__in=earlier
    )
    assert sorted((entry.detail["change"], tuple(entry.detail["permissions"])) for entry in changes) == [
        ("add", ("devices.send_command",)),
        ("remove", ("devices.send_command",)),
    ]
    viewer = users[VIEWER]
    viewer.delete()
    assert only(AuditAction.USER_DELETED).target == f"user {viewer.username}"


def test_entries_cannot_be_changed_or_deleted_not_even_in_sql(users):
    entry = record(AuditAction.COMMAND_SENT, "device ACV-000000000001", user=users[ADMIN])
    entry.target = "something else"
    tries = (entry.save, entry.delete, AuditLog.objects.all().delete, lambda: AuditLog.objects.update(actor="x"))
    for attempt in tries:
        with pytest.raises(AppendOnly):
            attempt()
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditlog SET actor = 'x'")


def test_admin_page_lists_and_filters_entries_read_only_without_delete(client, users):
    record(AuditAction.COMMAND_SENT, "device ACV-000000000001", user=users[OPERATOR])
    record(AuditAction.DEVICE_APPROVED, "device ACV-000000000002", user=users[ADMIN])
    client.force_login(users[ADMIN])
    changelist = reverse("admin:audit_auditlog_changelist")
    page = client.get(changelist, {"action__exact": AuditAction.DEVICE_APPROVED}).content.decode()
    assert "ACV-000000000002" in page and "ACV-000000000001" not in page
    assert 'name="action"' not in page  # no bulk actions, so no "delete selected"
    entry = AuditLog.objects.first()
    detail = client.get(reverse("admin:audit_auditlog_change", args=[entry.pk])).content.decode()
    assert 'name="_save"' not in detail
    assert client.get(reverse("admin:audit_auditlog_delete", args=[entry.pk])).status_code == 403
    assert client.get(reverse("admin:audit_auditlog_add")).status_code == 403


def test_api_lists_entries_for_admins_with_filters(admin_client, operator_client, users):
    record(AuditAction.COMMAND_SENT, "device ACV-000000000001", user=users[OPERATOR], detail={"command": "ping"})
    record(AuditAction.DEVICE_APPROVED, "device ACV-000000000002", user=users[ADMIN])
    assert operator_client.get("/api/audit").status_code == 403
    everything = admin_client.get("/api/audit").json()
    assert everything["results"][0]["action"] == AuditAction.DEVICE_APPROVED  # newest first
    assert set(everything["results"][0]) == {"id", "ts", "actor", "action", "target", "ip", "detail"}
    by_actor = admin_client.get("/api/audit", {"actor": users[OPERATOR].username}).json()["results"]
    assert [entry["target"] for entry in by_actor] == ["device ACV-000000000001"]
    by_action = admin_client.get("/api/audit", {"action": AuditAction.DEVICE_APPROVED}).json()["results"]
    assert [entry["actor"] for entry in by_action] == [users[ADMIN].username]
    assert admin_client.get("/api/audit", {"target": "000000000002"}).json()["count"] == 1
    assert admin_client.get("/api/audit", {"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    assert admin_client.get("/api/audit", {"action": "nope"}).status_code == 400
