"""The health sweep: devices that stop heartbeating become `degraded`, then `offline`.

Each device is judged by the interval it reports itself (`hb_s`): degraded after
HEALTH_DEGRADED_AFTER_MISSED missed intervals, offline after HEALTH_OFFLINE_AFTER_MISSED. An online
device's last proof of life is its last heartbeat, or the moment it came online if that is later (a
device back through its status message gets a fresh chance to heartbeat); a degraded device is judged
by its last heartbeat alone, so one that never heartbeats again does not get a second grace period.

The sweep is set-based so that a fleet of 100,000 costs a few statements, not 100,000 round trips:
one `UPDATE ... RETURNING` per transition, one bulk insert of history rows, and per-device events
and `device_offline` alerts. Past HEALTH_SWEEP_DETAIL_LIMIT transitions (a broker outage takes the
whole fleet down at once) alerts are inserted in bulk and one fleet-wide event replaces the flood.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import LessThan
from django.utils import timezone

from acuvim_console.events import DEVICE_STATUS_CHANGED, publish_event
from alerts.models import Alert, AlertSeverity, AlertSource, AlertType
from alerts.services import raise_alert
from devices.bulk_updates import seconds_before, update_returning
from devices.choices import DeviceStatus
from devices.models import Device, DeviceStatusChange
from devices.status import announce_status_change

log = logging.getLogger(__name__)


def _transitions():
    """(from, to, last proof of life, missed intervals), offline first so a long-silent device moves once."""
    degraded, offline = settings.HEALTH_DEGRADED_AFTER_MISSED, settings.HEALTH_OFFLINE_AFTER_MISSED
    online_alive = Greatest(
        Coalesce("last_heartbeat", "status_changed_at"), Coalesce("status_changed_at", "last_heartbeat")
    )
    degraded_alive = Coalesce("last_heartbeat", "status_changed_at")
    return (
        (DeviceStatus.ONLINE, DeviceStatus.OFFLINE, online_alive, offline),
        (DeviceStatus.DEGRADED, DeviceStatus.OFFLINE, degraded_alive, offline),
        (DeviceStatus.ONLINE, DeviceStatus.DEGRADED, online_alive, degraded),
    )


def sweep(now=None) -> dict:
    """Apply the degraded/offline rules to the whole fleet; return how many devices moved to each."""
    now = now or timezone.now()
    moved = {DeviceStatus.DEGRADED.value: 0, DeviceStatus.OFFLINE.value: 0}
    with transaction.atomic():
        for from_status, to_status, last_alive, missed in _transitions():
            reason = f"no heartbeat for {missed} intervals"
            rows = update_returning(
                Device.objects.filter(
                    LessThan(last_alive, seconds_before(now, "heartbeat_interval", missed)),
                    status=from_status,
                ),
                {"status": to_status, "status_changed_at": now, "updated_at": now},
                ("id", "device_id", "last_heartbeat"),
            )
            if rows:
                _record(rows, from_status, to_status, reason, now)
                moved[to_status] += len(rows)
    if any(moved.values()):
        log.info("health sweep: %(degraded)d degraded, %(offline)d offline", moved)
    return moved


def _record(rows: list[dict], from_status: str, to_status: str, reason: str, now) -> None:
    DeviceStatusChange.objects.bulk_create(
        [
            DeviceStatusChange(
                device_id=row["id"], from_status=from_status, to_status=to_status, reason=reason, changed_at=now
            )
            for row in rows
        ],
        batch_size=5000,
    )
    if len(rows) <= settings.HEALTH_SWEEP_DETAIL_LIMIT:
        for row in rows:
            announce_status_change(row["device_id"], from_status, to_status, reason, now)
        if to_status == DeviceStatus.OFFLINE:
            for row in rows:
                _raise_offline(row)
        return
    publish_event(
        DEVICE_STATUS_CHANGED,
        {
            "bulk": True,
            "count": len(rows),
            "from": from_status,
            "status": to_status,
            "reason": reason,
            "at": now.isoformat(),
        },
    )
    if to_status == DeviceStatus.OFFLINE:
        Alert.objects.bulk_create(
            [
                Alert(
                    device_id=row["id"],
                    alert_type=AlertType.DEVICE_OFFLINE,
                    severity=AlertSeverity.CRITICAL,
                    source=AlertSource.CONSOLE,
                    message=_offline_message(row),
                    last_seen_at=now,
                )
                for row in rows
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )


def _raise_offline(row: dict) -> None:
    device = Device(pk=row["id"], device_id=row["device_id"])
    raise_alert(
        device, AlertType.DEVICE_OFFLINE, AlertSeverity.CRITICAL, _offline_message(row), source=AlertSource.CONSOLE
    )


def _offline_message(row: dict) -> str:
    last = row["last_heartbeat"]
    since = last.strftime("%Y-%m-%d %H:%M:%S UTC") if last else "never"
    return f"{row['device_id']} stopped heartbeating (last heartbeat: {since})"
