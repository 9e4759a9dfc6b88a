"""Gateways authenticating to the firmware endpoints with their device token (`Authorization: Device <token>`)."""

import logging
from collections import Counter

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from devices.choices import UNACCEPTED_STATUSES
from devices.models import Device
from devices.registry.tokens import device_for_token

log = logging.getLogger(__name__)

KEYWORD = "Device"
# Refused device credentials by reason since the process started.
failures: Counter[str] = Counter()


class AuthenticatedDevice:
    """`request.user` for a gateway: authenticated, yet holding none of an operator's permissions."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, device: Device):
        self.device = device

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_perms(self, perm_list, obj=None) -> bool:
        return False

    def __str__(self):
        return self.device.device_id


class DeviceTokenAuthentication(BaseAuthentication):
    """Sets request.auth to the Device; requests without a `Device` header are left to other schemes."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            return self._refuse("malformed", "Authorization header must be 'Device <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return self._refuse("malformed", "Device token must be ASCII.")
        device = device_for_token(token)
        if device is None:
            return self._refuse("unknown_token", "Invalid device token.")
        if device.status in UNACCEPTED_STATUSES:
            return self._refuse("not_accepted", f"{device.device_id} is {device.status}; it may not fetch firmware.")
        return AuthenticatedDevice(device), device

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="firmware"'

    def _refuse(self, reason: str, message: str):
        failures[reason] += 1
        log.warning("device authentication refused (%s): %s", reason, message)
        raise AuthenticationFailed(message)


def authenticated_device(request) -> Device | None:
    """The gateway that authenticated this request with its token, if one did."""
    return request.auth if isinstance(request.auth, Device) else None
