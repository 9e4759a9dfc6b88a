"""Device status transitions: the one place that changes a device's status, records it and announces it."""

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import device_target, record
from acuvim_console.core.events import DEVICE_STATUS_CHANGED, iso_or_none, publish_event
from devices.choices import UNACCEPTED_STATUSES, DeviceStatus
from devices.models import Device, DeviceStatusChange
from devices.registry.mqtt_credentials import disable_mqtt_client


def devices_by_status() -> dict[str, int]:
    """How many devices are in each status (every status, 0 included), in one grouped query on the indexed column.

    The fleet's figures wherever they are shown: the dashboard API, the admin dashboard and its live counters.
    """
    by_status = dict(Device.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return {status: by_status.get(status, 0) for status in DeviceStatus.values}


@transaction.atomic
def change_status(device: Device, new_status: DeviceStatus, reason: str = "", at=None) -> bool:
    """Move `device` to `new_status` if it is not there already; return whether anything changed.

    The update is conditional on the status read, so two processes racing on the same device record
    one transition, not two.
    """
    at = at or timezone.now()
    old_status = device.status
    if old_status == new_status:
        return False
    updated = Device.objects.filter(pk=device.pk, status=old_status).update(
        status=new_status, status_changed_at=at, updated_at=at
    )
    if not updated:
        device.refresh_from_db(fields=["status", "status_changed_at"])
        return False
    device.status = new_status
    device.status_changed_at = at
    DeviceStatusChange.objects.create(
        device=device, from_status=old_status, to_status=new_status, reason=reason[:128], changed_at=at
    )
    announce_status_change(device.device_id, old_status, new_status, reason, at)
    return True


def announce_status_change(device_id: str, old_status: str, new_status: str, reason: str, at) -> None:
    """The live event for one transition (also used by the health sweep, which changes statuses in bulk)."""
    data = status_change_event_data(device_id, old_status, new_status, reason, at)
    publish_event(DEVICE_STATUS_CHANGED, data, device_id=device_id)


def status_change_event_data(device_id: str, old_status: str, new_status: str, reason: str, at) -> dict:
    """What DeviceStatusChanged carries for one device, for the live event and for the dashboard's recent events
    (built from the stored transition): the list a page starts with and the events that extend it agree."""
    return {"device_id": device_id, "from": old_status, "status": new_status, "reason": reason, "at": iso_or_none(at)}


@transaction.atomic
def accept_device(device: Device, reason: str) -> bool:
    """Let a pending (or decommissioned) device's data in: approved now, offline until its next heartbeat.

    Return whether its status changed; an already accepted device keeps its status and approval time.
    """
    if device.approved_at is None:
        device.approved_at = timezone.now()
        device.save(update_fields=["approved_at", "updated_at"])
    if device.status in UNACCEPTED_STATUSES:
        return change_status(device, DeviceStatus.OFFLINE, reason=reason)
    return False


@transaction.atomic
def approve_device(device: Device, *, user) -> bool:
    """An operator lets a pending device in (audited); False when it was not pending."""
    if device.status != DeviceStatus.PENDING:
        return False
    approved = accept_device(device, reason=f"approved by {user}")
    if approved:
        record(AuditAction.DEVICE_APPROVED, device_target(device), user=user)
    return approved


@transaction.atomic
def decommission_device(device: Device, *, user) -> bool:
    """An operator retires a device: its data is no longer stored and the broker refuses and disconnects it
    (audited); False if it already was. Raises BrokerAdminError, changing nothing, when the broker cannot."""
    changed = change_status(device, DeviceStatus.DECOMMISSIONED, reason=f"decommissioned by {user}")
    if changed:
        record(AuditAction.DEVICE_DECOMMISSIONED, device_target(device), user=user)
        disable_mqtt_client(device)  # last: a broker that refuses rolls the decommissioning back
    return changed
