"""Which Django permission each firmware endpoint demands, per HTTP method.

The same permissions back the admin, so a role (devices.roles) grants the same powers in both.
"""

from rest_framework.permissions import BasePermission

VIEW_FIRMWARE = "firmware.view_firmwareversion"
ADD_FIRMWARE = "firmware.add_firmwareversion"
CHANGE_FIRMWARE = "firmware.change_firmwareversion"
DELETE_FIRMWARE = "firmware.delete_firmwareversion"
VIEW_ROLLOUT = "firmware.view_rollout"
DEPLOY_FIRMWARE = "firmware.deploy_firmware"


class MethodPermission(BasePermission):
    """Grant a request when the user holds `view.required_permissions[method]` (HEAD counts as GET)."""

    def has_permission(self, request, view) -> bool:
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        needed = view.required_permissions.get(method)
        user = request.user
        return bool(needed and user and user.is_authenticated and user.has_perm(needed))
