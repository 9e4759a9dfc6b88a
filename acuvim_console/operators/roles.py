"""The three operator roles, as Django groups whose permissions the admin, the API and websockets all check.

Viewer reads; Operator also acts on devices (commands, config, approvals, firmware deployment, alert
acknowledgement); Admin also manages users, uploads and deletes firmware, deletes devices and reads
the audit log.
Permissions are re-synced after every migrate so that new models join the roles automatically.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

ADMIN, OPERATOR, VIEWER = "Admin", "Operator", "Viewer"
ROLES = (ADMIN, OPERATOR, VIEWER)
ROLE_ORDER = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}
FLEET_APPS = ("devices", "groups", "telemetry", "alerts", "firmware", "django_celery_beat")

OPERATOR_EXTRA = (
    "devices.send_command",
    "devices.push_config",
    "devices.approve_device",
    "devices.change_device",
    "devices.add_command",
    "devices.add_commandbatch",
    "groups.add_devicegroup",
    "groups.change_devicegroup",
    "firmware.deploy_firmware",
    "firmware.add_rollout",
    "firmware.change_rollout",
    "alerts.acknowledge_alert",
    "alerts.change_alert",
    "alerts.add_alertrule",
    "alerts.change_alertrule",
    "alerts.delete_alertrule",
    "alerts.add_silence",
    "alerts.change_silence",
    "alerts.delete_silence",
)


# Only Admins read the audit log; nobody may add, change or delete entries (acuvim_console.audit.models).
ADMIN_AUDIT_PERMISSION = "audit.view_auditlog"


def _perms(codenames: list[str]):
    query = Q()
    for dotted in codenames:
        app_label, codename = dotted.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(query)


def role_permissions(role: str):
    fleet = Permission.objects.filter(content_type__app_label__in=FLEET_APPS)
    view = fleet.filter(codename__startswith="view_")
    if role == VIEWER:
        return view
    if role == OPERATOR:
        return view | _perms(list(OPERATOR_EXTRA))
    return fleet | Permission.objects.filter(content_type__app_label="auth") | _perms([ADMIN_AUDIT_PERMISSION])


def sync_roles() -> None:
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))


def sync_roles_after_migrate(sender, **kwargs) -> None:
    """post_migrate runs once per app; the roles only need syncing once, after the last fleet app."""
    if sender.label == "firmware":
        sync_roles()


def role_of(user) -> str | None:
    """The highest role a user holds; superusers count as Admin."""
    if not user or not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    held = [role for role in ROLES if role in names]
    return max(held, key=ROLE_ORDER.__getitem__) if held else None
