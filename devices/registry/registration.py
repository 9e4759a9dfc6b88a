"""Registration (`devices/register/{id}`): how a gateway enters the fleet and keeps its inventory current.

Policy: an unknown device is created `pending` and waits for approval in the admin, unless
DEVICE_AUTO_ACCEPT is on. A device a field engineer pre-provisioned is accepted on its first
registration. An accepted device (online, degraded, offline) comes online, since it has just booted and
connected, unless it has already sent a newer presence message (devices.registry.freshness: a registration handled
late by another bridge must not undo an offline status sent after it). A decommissioned device is left
as it is: the bridge counts and drops its data. Every status change goes through
devices.registry.status.change_status, so it is recorded and announced.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction

from acuvim_console.core.events import DEVICE_REGISTERED, publish_event
from devices.choices import DeviceStatus
from devices.control.commands import deliver_pending
from devices.models import Device
from devices.registry.freshness import device_time, is_stale
from devices.registry.status import change_status

log = logging.getLogger(__name__)

ACCEPTED_STATUSES = (DeviceStatus.ONLINE, DeviceStatus.DEGRADED, DeviceStatus.OFFLINE)

# Registration field -> Device field, for the inventory a device reports about itself.
INVENTORY_FIELDS = {
    "mac": "mac_address",
    "imei": "imei",
    "iccid": "iccid",
    "hw": "hardware",
    "fw": "firmware_version",
    "caps": "capabilities",
    "meter": "meter",
    "hb_s": "heartbeat_interval",
    "cfg": "applied_config_hash",
    "boot": "boot_count",
    "reset": "reset_reason",
}


@transaction.atomic
def handle_registration(device_id: str, payload: dict, received_at: datetime) -> Device:
    """Create or update the device from a registration parsed by acuvim_console.protocol.payloads."""
    device, created = Device.objects.select_for_update().get_or_create(device_id=device_id)
    if device.status == DeviceStatus.DECOMMISSIONED:
        log.info("%s: registration of a decommissioned device ignored", device_id)
        return device
    changed = _apply_inventory(device, payload, received_at)
    sent_at = device_time(payload, received_at)
    stale = is_stale(sent_at, device.presence_device_ts)
    if sent_at is not None and not stale:
        device.presence_device_ts = sent_at
        changed.append("presence_device_ts")
    device.save(update_fields=changed)
    if stale:
        log.info("%s: registration of %s older than its last presence message: status left", device_id, sent_at)
    else:
        _accept_or_bring_online(device, created)
    if device.status in ACCEPTED_STATUSES:
        transaction.on_commit(lambda: deliver_pending(device))
    log.info(
        "%s: registered (%s, fw %s, status %s)",
        device_id,
        "new" if created else "known",
        device.firmware_version,
        device.status,
    )
    publish_event(
        DEVICE_REGISTERED,
        {
            "device_id": device_id,
            "new": created,
            "status": device.status,
            "firmware_version": device.firmware_version,
            "hardware": device.hardware,
            "boot": payload.get("boot"),
            "reset": payload.get("reset"),
        },
        device_id=device_id,
    )
    return device


def _apply_inventory(device: Device, payload: dict, received_at: datetime) -> list[str]:
    changed = ["last_seen", "updated_at"]
    device.last_seen = received_at
    if device.registered_at is None:
        device.registered_at = received_at
        changed.append("registered_at")
    for wire_name, field_name in INVENTORY_FIELDS.items():
        value = payload.get(wire_name)
        if value is not None:
            setattr(device, field_name, value)
            changed.append(field_name)
    return changed


def _accept_or_bring_online(device: Device, created: bool) -> None:
    if device.status == DeviceStatus.PENDING:
        reason = _acceptance_reason(device)
        if reason is None:
            return
        device.approved_at = device.approved_at or device.last_seen
        device.save(update_fields=["approved_at"])
        change_status(device, DeviceStatus.ONLINE, reason=reason, at=device.last_seen)
    elif device.status in ACCEPTED_STATUSES:
        change_status(device, DeviceStatus.ONLINE, reason="registered", at=device.last_seen)


def _acceptance_reason(device: Device) -> str | None:
    if device.preprovisioned:
        return "pre-provisioned"
    if settings.DEVICE_AUTO_ACCEPT:
        return "auto-accepted"
    return None


