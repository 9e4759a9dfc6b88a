"""Live events for the operator console, published to the Channels layer after the database commits.

Every event goes to the `fleet` group and, when it concerns one device, to that device's group, so an
admin page subscribes to exactly what it shows. Names follow the original console's SignalR hub.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

DEVICE_STATUS_CHANGED = "DeviceStatusChanged"
DEVICE_REGISTERED = "DeviceRegistered"
TELEMETRY_RECEIVED = "TelemetryReceived"
HEARTBEAT_RECEIVED = "HeartbeatReceived"
ALERT_CREATED = "AlertCreated"
ALERT_UPDATED = "AlertUpdated"
COMMAND_UPDATED = "CommandUpdated"
COMMAND_COMPLETED = "CommandCompleted"
ROLLOUT_PROGRESS = "RolloutProgress"

FLEET_GROUP = "fleet"


def device_group(device_id: str) -> str:
    return f"device.{device_id}"


def publish_event(name: str, data: dict, device_id: str | None = None) -> None:
    """Send once the surrounding transaction commits (at once outside one); never raise into the caller."""
    transaction.on_commit(lambda: _send(name, data, device_id))


def _send(name: str, data: dict, device_id: str | None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "fleet.event", "event": name, "device_id": device_id, "data": data}
    try:
        async_to_sync(layer.group_send)(FLEET_GROUP, message)
        if device_id:
            async_to_sync(layer.group_send)(device_group(device_id), message)
    except Exception:  # the live layer must never break ingestion or a request
        log.exception("live event %s for %s could not be sent", name, device_id or "fleet")
