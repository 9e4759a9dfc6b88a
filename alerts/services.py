"""Raising and resolving alerts: the one way any part of the console opens or closes an alert.

At most one alert per device and type is open (a partial unique constraint). A repeat of an open alert
bumps its occurrences and last_seen_at instead of creating noise, and two processes raising the same
alert at once end with one row: the loser of the insert race hits the constraint and bumps instead.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from acuvim_console.core.events import ALERT_CREATED, ALERT_UPDATED, iso_or_none, publish_event
from acuvim_console.protocol.enums import Severity
from alerts import notifications
from alerts.models import Alert, AlertSource, NoticeEvent, Silence
from devices.models import Device

log = logging.getLogger(__name__)


def raise_alert(
    device: Device,
    alert_type: str,
    severity: str,
    message: str,
    *,
    value: float | None = None,
    threshold: float | None = None,
    metadata: dict | None = None,
    source: str = AlertSource.CONSOLE,
    rule_id: int | None = None,
) -> Alert:
    """Open the alert, or bump the open one of the same type; emit AlertCreated / AlertUpdated after commit.

    A newly opened alert is handed to the notification channels that want it (a bump is not news).
    """
    now = timezone.now()
    with transaction.atomic():
        alert = _bump_open(device, alert_type, severity, message, value, now)
        if alert is not None:
            publish_event(ALERT_UPDATED, alert_event_data(alert), device_id=device.device_id)
            return alert
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    device=device,
                    alert_type=alert_type,
                    severity=severity or Severity.WARNING,
                    source=source,
                    message=message,
                    value=value,
                    threshold=threshold,
                    metadata=metadata or {},
                    last_seen_at=now,
                    rule_id=rule_id,
                )
        except IntegrityError:  # another process opened it between our update and insert
            alert = _bump_open(device, alert_type, severity, message, value, now)
            if alert is None:
                raise
            publish_event(ALERT_UPDATED, alert_event_data(alert), device_id=device.device_id)
            return alert
        log.info("%s: alert %s raised (%s): %s", device.device_id, alert_type, severity, message)
        publish_event(ALERT_CREATED, alert_event_data(alert), device_id=device.device_id)
        notifications.announce([alert], NoticeEvent.OPENED)
        return alert


def _bump_open(device: Device, alert_type: str, severity: str, message: str, value, now) -> Alert | None:
    open_alert = Alert.objects.filter(device=device, alert_type=alert_type, resolved_at__isnull=True)
    changes = {"occurrences": F("occurrences") + 1, "last_seen_at": now, "message": message}
    if severity:
        changes["severity"] = severity
    if value is not None:
        changes["value"] = value
    if not open_alert.update(**changes):
        return None
    return open_alert.select_related("rule", "acknowledged_by").first()


def resolve_alert(device: Device, alert_type: str, reason: str = "", *, user=None) -> bool:
    """Close the open alert of this type, if any; return whether one was closed.

    `user` is the person who resolved it from the inbox (recorded in resolved_by); None for the device,
    a rule or the health checks.
    """
    now = timezone.now()
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(device=device, alert_type=alert_type, resolved_at__isnull=True)
            .first()
        )
        if alert is None:
            return False
        alert.resolved_at = now
        alert.resolved_by = user
        if reason:
            alert.metadata = {**alert.metadata, "resolution": reason}
        alert.save(update_fields=["resolved_at", "resolved_by", "metadata"])
        log.info("%s: alert %s resolved: %s", device.device_id, alert_type, reason or "-")
        publish_event(ALERT_UPDATED, alert_event_data(alert), device_id=device.device_id)
        notifications.announce([alert], NoticeEvent.RESOLVED)
        return True


def escalate_alert(alert: Alert, severity: str, *, after_s: int) -> bool:
    """Raise an open alert to `severity` (once: conditional on it being open and not there yet) and notify."""
    with transaction.atomic():
        changed = (
            Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True)
            .exclude(severity=severity)
            .update(severity=severity, metadata={**alert.metadata, "escalated_after_s": after_s})
        )
        if not changed:
            return False
        alert = Alert.objects.select_related("device", "rule").get(pk=alert.pk)
        log.info("%s: alert %s escalated to %s after %d s", alert.device.device_id, alert.alert_type, severity, after_s)
        publish_event(ALERT_UPDATED, alert_event_data(alert), device_id=alert.device.device_id)
        notifications.announce([alert], NoticeEvent.ESCALATED)
        return True


def acknowledge_alerts(alerts, user) -> list[Alert]:
    """Acknowledge the given alerts that nobody has acknowledged yet; return those this call acknowledged.

    The update is conditional, so two operators acknowledging at once record the first one only, and each
    newly acknowledged alert is announced once (AlertUpdated).
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(alerts.filter(acknowledged=False).values_list("pk", flat=True))
        Alert.objects.filter(pk__in=ids, acknowledged=False).update(
            acknowledged=True, acknowledged_by=user, acknowledged_at=now
        )
        acknowledged = list(
            Alert.objects.filter(pk__in=ids, acknowledged_by=user, acknowledged_at=now).select_related(
                "device", "rule", "acknowledged_by"
            )
        )
        for alert in acknowledged:
            publish_event(ALERT_UPDATED, alert_event_data(alert), device_id=alert.device.device_id)
    return acknowledged


def resolve_alerts(alerts, user) -> int:
    """From the inbox: resolve the open ones among these alerts by hand, recording who (and when: resolved_at)."""
    return sum(
        resolve_alert(alert.device, alert.alert_type, reason=f"resolved by {user}", user=user)
        for alert in alerts.filter(resolved_at__isnull=True).select_related("device")
    )


# What an operator may choose for a silence from an inbox (the alert list's and the device page's): a
# bounded list, not free text.
SILENCE_DURATIONS = {
    "30m": ("30 minutes", timedelta(minutes=30)),
    "1h": ("1 hour", timedelta(hours=1)),
    "4h": ("4 hours", timedelta(hours=4)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
}
DEFAULT_SILENCE = "4h"


def silence_devices(alerts, *, duration: timedelta, reason: str, user) -> list[Silence]:
    """From the inbox: silence each device of these alerts for `duration`, with the operator's reason.

    Who and when are the silence's created_by and created_at; the reason says them too, so the silence
    reads on its own in the list and in the notices it marks.
    """
    now = timezone.now()
    devices = sorted(set(alerts.values_list("device_id", flat=True)))
    reason = f"{reason.strip()} (silenced from the alert inbox by {user} at {now:%Y-%m-%d %H:%M} UTC)"
    return Silence.objects.bulk_create(
        Silence(device_id=device, reason=reason, starts_at=now, ends_at=now + duration, created_by=user)
        for device in devices
    )


def open_alert_counts() -> tuple[dict[str, int], int]:
    """Open alerts by severity (every severity, 0 included) and how many of them nobody acknowledged yet.

    The fleet's figures wherever they are shown: the dashboard API, the admin dashboard and its live counters.
    """
    open_alerts = Alert.objects.filter(resolved_at__isnull=True).order_by()
    by_severity = dict(open_alerts.values_list("severity").annotate(n=Count("pk")))
    counts = {severity: by_severity.get(severity, 0) for severity in Severity.values}
    return counts, open_alerts.filter(acknowledged=False).count()


def alert_rows():
    """Alerts with what alert_event_data names (the device, the rule, who handled them), in one query."""
    return Alert.objects.select_related("device", "rule", "acknowledged_by", "resolved_by")


def alert_event_data(alert: Alert) -> dict:
    """What AlertCreated / AlertUpdated carry, and how the live snapshot and the inboxes list alerts: the
    rule that opened it and who handled it."""
    return {
        "id": alert.pk,
        "device_id": alert.device.device_id,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "message": alert.message,
        "rule": alert.rule_id,
        "rule_name": alert.rule.name if alert.rule_id else None,
        "acknowledged": alert.acknowledged,
        "acknowledged_by": alert.acknowledged_by.username if alert.acknowledged_by_id else None,
        "resolved": alert.resolved_at is not None,
        "resolved_by": alert.resolved_by.username if alert.resolved_by_id else None,
        "occurrences": alert.occurrences,
        "created_at": iso_or_none(alert.created_at),
        "last_seen_at": iso_or_none(alert.last_seen_at),
        "acknowledged_at": iso_or_none(alert.acknowledged_at),
        "resolved_at": iso_or_none(alert.resolved_at),
    }

