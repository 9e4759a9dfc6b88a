"""The health sweep: devices that stop heartbeating become `degraded`, then `offline`.

Each device is judged by the interval it reports itself (`hb_s`): degraded after
HEALTH_DEGRADED_AFTER_MISSED missed intervals, offline after HEALTH_OFFLINE_AFTER_MISSED. An online
device's last proof of life is its last heartbeat, or the moment it came online if that is later (a
device back through its status message gets a fresh chance to heartbeat); a degraded device is judged
by its last heartbeat alone, so one that never heartbeats again does not get a second grace period.

The sweep is set-based so that a fleet of 100,000 costs a few statements, not 100,000 round trips:
one statement per transition that updates the devices and inserts their history rows (PostgreSQL;
see acuvim_console.core.bulk_updates), then per-device events and `device_offline` alerts. Past
HEALTH_SWEEP_DETAIL_LIMIT transitions (a broker outage takes the whole fleet down at once) the alerts
are inserted by one INSERT ... SELECT and one fleet-wide event per transition replaces the flood.

A gateway that loses power is marked offline at once by its LWT (devices.health.presence), so no transition
of the sweep ever sees it. The sweep therefore also raises `device_offline` for devices that have
been offline longer than a grace period without an alert for this outage: the grace is the longer of
the device's own offline threshold (HEALTH_OFFLINE_AFTER_MISSED heartbeat intervals, the patience a
silent device gets) and HEALTH_OFFLINE_ALERT_GRACE_SECONDS. An LWT also fires on every reboot, OTA
restart and WiFi/GSM failover, which reconnect within a minute or two; waiting out the grace keeps
those from paging anyone. One alert per outage: an alert the operator resolved while the device is
still offline is not raised again until the device has come back and gone away once more.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.db.models.lookups import LessThan
from django.utils import timezone

from acuvim_console.core.bulk_updates import HistoryRows, seconds_before, update_returning
from acuvim_console.core.events import DEVICE_STATUS_CHANGED, publish_event
from acuvim_console.protocol.enums import Severity
from alerts import notifications
from alerts.models import Alert, AlertSource, AlertType, NoticeEvent
from alerts.services import raise_alert
from devices.choices import DeviceStatus
from devices.models import Device, DeviceStatusChange
from devices.registry.status import announce_status_change

log = logging.getLogger(__name__)

# Appended to the device id: the alert for a device an LWT took offline and that stayed away.
LATE_OFFLINE_MESSAGE = " disconnected and has not come back"


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
    transitions = []
    with transaction.atomic():
        for from_status, to_status, last_alive, missed in _transitions():
            reason = f"no heartbeat for {missed} intervals"
            rows = update_returning(
                Device.objects.filter(
                    LessThan(last_alive, seconds_before(now, "heartbeat_interval", missed)),
                    status=from_status,
                ),
                {"status": to_status, "status_changed_at": now, "updated_at": now},
                ("id", "device_id"),
                history=HistoryRows(
                    DeviceStatusChange,
                    "device",
                    {"from_status": from_status, "to_status": to_status, "reason": reason, "changed_at": now},
                ),
            )
            if rows:
                transitions.append((from_status, to_status, reason, rows))
                moved[to_status] += len(rows)
        if sum(moved.values()) <= settings.HEALTH_SWEEP_DETAIL_LIMIT:
            _announce_each(transitions, now)
        else:
            _announce_in_bulk(transitions, now)
        late_alerts = _alert_long_offline(now)
    if any(moved.values()) or late_alerts:
        log.info(
            "health sweep: %d degraded, %d offline, %d offline alerts after the grace",
            moved[DeviceStatus.DEGRADED],
            moved[DeviceStatus.OFFLINE],
            late_alerts,
        )
    return moved


def _announce_each(transitions: list, now) -> None:
    """A normal sweep: one live event per device and a `device_offline` alert through raise_alert."""
    for from_status, to_status, reason, rows in transitions:
        for row in rows:
            announce_status_change(row["device_id"], from_status, to_status, reason, now)
            if to_status == DeviceStatus.OFFLINE:
                device = Device(pk=row["id"], device_id=row["device_id"])
                raise_alert(
                    device,
                    AlertType.DEVICE_OFFLINE,
                    Severity.CRITICAL,
                    f"{row['device_id']} stopped heartbeating: {reason}",
                    source=AlertSource.CONSOLE,
                )


def _announce_in_bulk(transitions: list, now) -> None:
    """A mass outage: one fleet event per transition and the offline alerts in one INSERT ... SELECT."""
    for from_status, to_status, reason, rows in transitions:
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
    if not any(to_status == DeviceStatus.OFFLINE for _, to_status, _, _ in transitions):
        return
    offline_reason = f"no heartbeat for {settings.HEALTH_OFFLINE_AFTER_MISSED} intervals"
    _insert_offline_alerts(
        Device.objects.filter(status=DeviceStatus.OFFLINE, status_changed_at=now),
        f" stopped heartbeating: {offline_reason}",
        now,
    )


def offline_past_grace(now) -> QuerySet:
    """Offline devices past their alert grace that have no `device_offline` alert for this outage.

    Pending and decommissioned devices have their own statuses, so only accepted devices match. An
    alert counts for this outage if it is still open or was raised since the device went offline.
    """
    grace_ends = Least(
        seconds_before(now, "heartbeat_interval", settings.HEALTH_OFFLINE_AFTER_MISSED),
        Value(now - timedelta(seconds=settings.HEALTH_OFFLINE_ALERT_GRACE_SECONDS)),
    )
    alerted = Alert.objects.filter(device=OuterRef("pk"), alert_type=AlertType.DEVICE_OFFLINE).filter(
        Q(resolved_at__isnull=True) | Q(created_at__gte=OuterRef("status_changed_at"))
    )
    return Device.objects.filter(LessThan(F("status_changed_at"), grace_ends), status=DeviceStatus.OFFLINE).exclude(
        Exists(alerted)
    )


def _alert_long_offline(now) -> int:
    """Raise `device_offline` for devices offline past the grace (an LWT, not the sweep, took them down)."""
    due = offline_past_grace(now)
    limit = settings.HEALTH_SWEEP_DETAIL_LIMIT
    devices = list(due.values_list("pk", "device_id")[: limit + 1])
    if len(devices) > limit:
        return _insert_offline_alerts(due, LATE_OFFLINE_MESSAGE, now)
    for pk, device_id in devices:
        raise_alert(
            Device(pk=pk, device_id=device_id),
            AlertType.DEVICE_OFFLINE,
            Severity.CRITICAL,
            f"{device_id}{LATE_OFFLINE_MESSAGE}",
            source=AlertSource.CONSOLE,
        )
    return len(devices)


def _insert_offline_alerts(devices: QuerySet, message_suffix: str, now) -> int:
    """Open a critical `device_offline` alert for every device of `devices` in one INSERT ... SELECT."""
    alert, device = Alert._meta, Device._meta
    quote = connection.ops.quote_name
    at = connection.ops.adapt_datetimefield_value(now)
    values = {
        "alert_type": AlertType.DEVICE_OFFLINE.value,
        "severity": Severity.CRITICAL.value,
        "source": AlertSource.CONSOLE.value,
        "metadata": alert.get_field("metadata").get_db_prep_save({}, connection),
        "occurrences": 1,
        "acknowledged": False,
        "created_at": at,
        "last_seen_at": at,
    }
    columns = [quote(alert.get_field("device").column), quote("message"), *map(quote, values)]
    pk, device_id = device.pk.attname, device.get_field("device_id").attname
    device_sql, device_params = devices.order_by().values(pk, device_id).query.sql_with_params()
    pk, device_id = quote(pk), quote(device_id)
    with connection.cursor() as cursor:
        # A device that still has an open offline alert keeps it (the partial unique constraint). SQLite
        # needs a WHERE before an upsert's ON CONFLICT, or it parses ON as part of a join.
        cursor.execute(
            f"INSERT INTO {quote(alert.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT d.{pk}, d.{device_id} || %s, {', '.join(['%s'] * len(values))} FROM ({device_sql}) d "
            f"WHERE 1 = 1 ON CONFLICT DO NOTHING",
            [message_suffix, *values.values(), *device_params],
        )
        inserted = cursor.rowcount
    # The notification channels hear of a mass outage too (as digests: alerts.notifications).
    opened = Alert.objects.filter(alert_type=AlertType.DEVICE_OFFLINE, created_at=now).select_related("device")
    notifications.announce(opened, NoticeEvent.OPENED)
    return inserted
