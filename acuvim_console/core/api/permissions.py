"""Permission classes of the REST API, built on the Django permissions the admin checks.

A role (acuvim_console.operators.roles) is a Django group holding permissions, so checking the permission rather than
the role name keeps the admin, the API and the websockets in agreement about who may do what.
Anonymous requests never reach these classes' verdict: they get 401 from `IsAuthenticated` first.
"""

from rest_framework.permissions import BasePermission, IsAuthenticated

SEND_COMMAND = "devices.send_command"
PUSH_CONFIG = "devices.push_config"
VIEW_DEVICE = "devices.view_device"
CHANGE_DEVICE = "devices.change_device"
DELETE_DEVICE = "devices.delete_device"
VIEW_COMMAND = "devices.view_command"
VIEW_CONFIG = "devices.view_deviceconfig"
VIEW_TELEMETRY = "telemetry.view_telemetryrecord"
VIEW_ALERT = "alerts.view_alert"
ACKNOWLEDGE_ALERT = "alerts.acknowledge_alert"
VIEW_GROUP = "groups.view_devicegroup"
ADD_GROUP = "groups.add_devicegroup"
CHANGE_GROUP = "groups.change_devicegroup"
DELETE_GROUP = "groups.delete_devicegroup"
DEPLOY_FIRMWARE = "firmware.deploy_firmware"
ADD_USER = "auth.add_user"
VIEW_AUDIT = "audit.view_auditlog"

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class MethodPermissions(BasePermission):
    """Require `view.required_permissions[method]` (a permission name or a tuple of them).

    HEAD and OPTIONS need what GET needs. A method missing from the table is refused, so a view that
    gains a method without saying who may call it fails closed.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        method = "GET" if request.method in _SAFE_METHODS else request.method
        needed = view.required_permissions.get(method)
        if needed is None:
            return False
        return user.has_perms((needed,) if isinstance(needed, str) else needed)


# The permission_classes of every protected view: authenticated first (401), then the table (403).
PROTECTED = [IsAuthenticated, MethodPermissions]
