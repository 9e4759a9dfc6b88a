"""Presence (`acuvim/{id}/status`): the retained online message a gateway sends on connect, and its LWT.

Status messages are retained, so the bridge sees the last one again whenever it subscribes. A message
whose device time is older than the newest presence message already applied (status, heartbeat or
registration, see devices.registry.freshness) is stale and ignored rather than flipping the device back: the
device has spoken since, perhaps through another bridge. Until a device has sent a
timed presence message, its last status change (console time) is the reference, as it was before
devices kept their message times.
"""

import logging
from datetime import datetime

from django.db import transaction

from acuvim_console.protocol.enums import PresenceState
from alerts.models import AlertType
from alerts.services import resolve_alert
from devices.choices import DeviceStatus
from devices.control.commands import deliver_pending
from devices.models import Device
from devices.registry.freshness import device_time, is_stale
from devices.registry.status import change_status

log = logging.getLogger(__name__)


@transaction.atomic
def handle_status(device: Device, payload: dict, received_at: datetime) -> bool:
    """Apply a status message parsed by acuvim_console.protocol.payloads; return whether the status changed."""
    device = Device.objects.select_for_update().get(pk=device.pk)  # bridges applying this device's messages queue up
    sent_at = device_time(payload, received_at)
    if is_stale(sent_at, device.presence_device_ts or device.status_changed_at):
        log.info("%s: stale %s status from %s ignored", device.device_id, payload["state"], sent_at.isoformat())
        return False
    online = payload["state"] == PresenceState.ONLINE
    changes = {"presence_device_ts": sent_at} if sent_at is not None else {}
    if online:
        changes["last_seen"] = received_at
        if payload.get("conn"):
            changes["connection_type"] = payload["conn"]
    if changes:
        Device.objects.filter(pk=device.pk).update(**changes)
    if online:
        changed = change_status(device, DeviceStatus.ONLINE, reason="status online", at=received_at)
        if changed:
            resolve_alert(device, AlertType.DEVICE_OFFLINE, reason="status online")
            transaction.on_commit(lambda: deliver_pending(device))
        return changed
    reason = f"status offline ({payload['reason']})" if payload.get("reason") else "status offline"
    return change_status(device, DeviceStatus.OFFLINE, reason=reason, at=received_at)


