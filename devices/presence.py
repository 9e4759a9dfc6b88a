"""Presence (`acuvim/{id}/status`): the retained online message a gateway sends on connect, and its LWT.

Status messages are retained, so the bridge sees the last one again whenever it subscribes. A message
whose device time is older than the device's last status change is stale (the health sweep or a later
message has spoken since) and is ignored rather than flipping the device back.
"""

import logging
from datetime import datetime

from django.db import transaction

from acuvim_console.mqtt.payloads import PresenceState
from alerts.models import AlertType
from alerts.services import resolve_alert
from devices.choices import DeviceStatus
from devices.models import Device
from devices.status import change_status

log = logging.getLogger(__name__)


@transaction.atomic
def handle_status(device: Device, payload: dict, received_at: datetime) -> bool:
    """Apply a status message parsed by acuvim_console.mqtt.payloads; return whether the status changed."""
    device_time = payload.get("ts")
    if device_time is not None and device.status_changed_at is not None and device_time < device.status_changed_at:
        log.info("%s: stale %s status from %s ignored", device.device_id, payload["state"], device_time.isoformat())
        return False
    if payload["state"] == PresenceState.ONLINE:
        changes = {"last_seen": received_at}
        if payload.get("conn"):
            changes["connection_type"] = payload["conn"]
        Device.objects.filter(pk=device.pk).update(**changes)
        changed = change_status(device, DeviceStatus.ONLINE, reason="status online", at=received_at)
        if changed:
            resolve_alert(device, AlertType.DEVICE_OFFLINE, reason="status online")
            transaction.on_commit(lambda: _deliver_pending(device))
        return changed
    reason = f"status offline ({payload['reason']})" if payload.get("reason") else "status offline"
    return change_status(device, DeviceStatus.OFFLINE, reason=reason, at=received_at)


def _deliver_pending(device: Device) -> None:
    from devices.commands import deliver_pending

    deliver_pending(device)
