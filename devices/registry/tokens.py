"""Device tokens: the HTTP credential a gateway uses for the firmware endpoints.

Tokens are 32 random bytes, so a plain SHA-256 is enough to store them (no slow password hash is needed
to resist guessing) and lets the endpoint find the device with one indexed lookup.
"""

import hashlib
import secrets

from django.utils import timezone

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import device_target, record
from acuvim_console.protocol.identity import TOKEN_PREFIX
from devices.models import Device


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(device: Device) -> str:
    """Give the device a new token (the old one stops working) and return it; it is never shown again.

    Audited with the request's user, if any (the admin's action; manage.py provision_device has none).
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    device.token_hash = hash_token(token)
    device.token_issued_at = timezone.now()
    device.save(update_fields=["token_hash", "token_issued_at", "updated_at"])
    record(AuditAction.DEVICE_TOKEN_ISSUED, device_target(device))
    return token


def device_for_token(token: str) -> Device | None:
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    return Device.objects.filter(token_hash=hash_token(token)).first()
