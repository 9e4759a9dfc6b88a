"""What a live page needs on arrival: bounded snapshots of the fleet and of one device.

Shared by the websocket consumers (snapshot on connect) and the admin dashboard (first paint), so the
page and the socket never disagree. Every query here is bounded by an index or a LIMIT: a snapshot must
cost the same for ten devices and for ten thousand.
"""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from acuvim_console import events
from alerts.models import Alert, AlertSeverity
from devices.choices import FINAL_COMMAND_STATUSES, DeviceStatus
from devices.models import Command, Device, DeviceStatusChange
from firmware.models import Rollout, RolloutStatus
from telemetry.models import COLUMN_FIELDS, TelemetryRecord
from telemetry.queries import latest

# Seconds between counter refreshes pushed to dashboards, and the delay that merges a burst of events
# into one refresh. Overridable in settings (LIVE_COUNTERS_INTERVAL_S, LIVE_COUNTERS_DEBOUNCE_S).
COUNTERS_INTERVAL_S = getattr(settings, "LIVE_COUNTERS_INTERVAL_S", 15.0)
COUNTERS_DEBOUNCE_S = getattr(settings, "LIVE_COUNTERS_DEBOUNCE_S", 1.0)
# A list page's followed devices: how often their last-seen times are sent, and how many at most.
SEEN_INTERVAL_S = getattr(settings, "LIVE_SEEN_INTERVAL_S", 10.0)
MAX_FOLLOWED = 200
RECENT_EVENTS_LIMIT = 20
RECENT_COMMANDS_LIMIT = 10
COUNTERS_CACHE_KEY = "live:fleet-counters"
COUNTERS_CACHE_SECONDS = 1

DEVICE_STATE_FIELDS = (
    "device_id",
    "name",
    "status",
    "firmware_version",
    "hardware",
    "connection_type",
    "signal_strength",
    "ip_address",
    "uptime_s",
    "heap_free",
    "heap_min",
    "boot_count",
    "reset_reason",
    "sd_ok",
    "sd_queued",
    "modbus_ok",
    "modbus_errors",
    "ota_state",
    "desired_config_hash",
    "applied_config_hash",
    "status_changed_at",
    "last_heartbeat",
    "last_telemetry",
    "last_seen",
)


def _iso(value):
    return value.isoformat() if value is not None else None


def fleet_counters() -> dict:
    """Devices by status, open alerts by severity, running rollouts and telemetry rows of the last minute.

    Cached for a few seconds: a hundred dashboards refreshing their counters share one set of queries.
    """
    counters = cache.get(COUNTERS_CACHE_KEY)
    if counters is None:
        counters = _compute_fleet_counters()
        cache.set(COUNTERS_CACHE_KEY, counters, COUNTERS_CACHE_SECONDS)
    return counters


def _compute_fleet_counters() -> dict:
    now = timezone.now()
    by_status = dict(Device.objects.order_by().values_list("status").annotate(n=Count("pk")))
    open_alerts = Alert.objects.filter(resolved_at__isnull=True).aggregate(
        **{severity: Count("pk", filter=Q(severity=severity)) for severity in AlertSeverity.values}
    )
    return {
        "devices": {status: by_status.get(status, 0) for status in DeviceStatus.values},
        "alerts": open_alerts,
        "alerts_unacknowledged": Alert.objects.filter(resolved_at__isnull=True, acknowledged=False).count(),
        "rollouts_running": Rollout.objects.filter(status=RolloutStatus.RUNNING).count(),
        # Device time of the reading, so the ts index answers it; SD replays of old data do not count.
        "messages_per_minute": TelemetryRecord.objects.filter(ts__gt=now - timedelta(minutes=1), ts__lte=now).count(),
        "at": now.isoformat(),
    }


def recent_events(limit: int = RECENT_EVENTS_LIMIT) -> list[dict]:
    """The latest status changes, alerts and finished commands, shaped like the live events that announce them."""
    status_changes = [
        _event(
            events.DEVICE_STATUS_CHANGED,
            change.device.device_id,
            change.changed_at,
            {"from": change.from_status, "status": change.to_status, "reason": change.reason},
        )
        for change in DeviceStatusChange.objects.select_related("device").order_by("-changed_at")[:limit]
    ]
    alerts = [
        _event(events.ALERT_CREATED, alert.device.device_id, alert.created_at, alert_payload(alert))
        for alert in alert_rows().order_by("-created_at")[:limit]
    ]
    commands = [
        _event(events.COMMAND_COMPLETED, command.device.device_id, command.completed_at, command_payload(command))
        for command in Command.objects.select_related("device")
        .filter(status__in=FINAL_COMMAND_STATUSES, completed_at__isnull=False)
        .order_by("-completed_at")[:limit]
    ]
    merged = sorted(status_changes + alerts + commands, key=lambda event: event["at"], reverse=True)
    return merged[:limit]


def _event(name: str, device_id: str, at, data: dict) -> dict:
    return {"event": name, "device_id": device_id, "at": _iso(at), "data": {"device_id": device_id, **data}}


def last_seen_of(device_ids: list[str]) -> dict:
    """{device_id: {"last_seen": iso, "status": status}} for a page's devices (bounded by MAX_FOLLOWED)."""
    rows = Device.objects.filter(device_id__in=device_ids[:MAX_FOLLOWED]).values_list(
        "device_id", "last_seen", "status"
    )
    return {device_id: {"last_seen": _iso(seen), "status": status} for device_id, seen, status in rows}


def fleet_snapshot() -> dict:
    return {"counters": fleet_counters(), "recent_events": recent_events()}


def alert_rows():
    """Alerts with what alert_payload names (the device, the rule, who handled them), in one query."""
    return Alert.objects.select_related("device", "rule", "acknowledged_by", "resolved_by")


def alert_payload(alert: Alert) -> dict:
    """An alert as the live events and the pages' inboxes carry it: the rule that opened it, who handled it."""
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
        "created_at": _iso(alert.created_at),
        "last_seen_at": _iso(alert.last_seen_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_at": _iso(alert.resolved_at),
    }


def command_payload(command: Command) -> dict:
    """The command as CommandUpdated/CommandCompleted carry it, plus its times for the page's list."""
    from devices.commands import command_event_data

    return {
        **command_event_data(command, command.device.device_id),
        "created_at": _iso(command.created_at),
        "completed_at": _iso(command.completed_at),
    }


def device_state(device: Device) -> dict:
    state = {}
    for name in DEVICE_STATE_FIELDS:
        value = getattr(device, name)
        state[name] = _iso(value) if hasattr(value, "isoformat") else value
    state["config_drift"] = device.config_drift
    return state


def latest_telemetry(device: Device) -> dict | None:
    """The newest reading's chart quantities, shaped like a TelemetryReceived event."""
    record = latest(device)
    if record is None:
        return None
    return {
        "ts": _iso(record.ts),
        "source": record.source,
        **{column: getattr(record, column) for column in COLUMN_FIELDS.values()},
    }


def device_snapshot(device: Device) -> dict:
    commands = [
        command_payload(command)
        for command in device.commands.select_related("device").order_by("-created_at")[:RECENT_COMMANDS_LIMIT]
    ]
    return {"device": device_state(device), "telemetry": latest_telemetry(device), "commands": commands}
