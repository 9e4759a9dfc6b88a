"""What a live page needs on arrival: bounded snapshots of the fleet and of one device.

Shared by the websocket consumers (snapshot on connect) and the admin dashboard (first paint), so the
page and the socket never disagree. Every query here is bounded by an index or a LIMIT: a snapshot must
cost the same for ten devices and for ten thousand.
"""


from django.core.cache import cache
from django.utils import timezone

from acuvim_console.core import events
from acuvim_console.core.events import iso_or_none
from alerts.services import alert_event_data, alert_rows, open_alert_counts
from devices.choices import FINAL_COMMAND_STATUSES
from devices.control.commands import command_event_data
from devices.models import Command, Device, DeviceStatusChange
from devices.registry.status import devices_by_status, status_change_event_data
from firmware.models import Rollout, RolloutStatus
from telemetry.ingest import telemetry_event_data
from telemetry.queries import latest, messages_per_minute

# A list page's followed devices: at most this many (the intervals are settings: LIVE_*).
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
    open_alerts, unacknowledged = open_alert_counts()
    return {
        "devices": devices_by_status(),
        "alerts": open_alerts,
        "alerts_unacknowledged": unacknowledged,
        "rollouts_running": Rollout.objects.filter(status=RolloutStatus.RUNNING).count(),
        "messages_per_minute": messages_per_minute(now),
        "at": now.isoformat(),
    }


def recent_events(limit: int = RECENT_EVENTS_LIMIT) -> list[dict]:
    """The latest status changes, alerts and finished commands, shaped like the live events that announce them."""
    status_changes = [
        _event(
            events.DEVICE_STATUS_CHANGED,
            change.device.device_id,
            change.changed_at,
            status_change_event_data(
                change.device.device_id, change.from_status, change.to_status, change.reason, change.changed_at
            ),
        )
        for change in DeviceStatusChange.objects.select_related("device").order_by("-changed_at")[:limit]
    ]
    alerts = [
        _event(events.ALERT_CREATED, alert.device.device_id, alert.created_at, alert_event_data(alert))
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
    return {"event": name, "device_id": device_id, "at": iso_or_none(at), "data": {"device_id": device_id, **data}}


def last_seen_of(device_ids: list[str]) -> dict:
    """{device_id: {"last_seen": iso, "status": status}} for a page's devices (bounded by MAX_FOLLOWED)."""
    rows = Device.objects.filter(device_id__in=device_ids[:MAX_FOLLOWED]).values_list(
        "device_id", "last_seen", "status"
    )
    return {device_id: {"last_seen": iso_or_none(seen), "status": status} for device_id, seen, status in rows}


def fleet_snapshot() -> dict:
    return {"counters": fleet_counters(), "recent_events": recent_events()}


def command_payload(command: Command) -> dict:
    """The command as CommandUpdated/CommandCompleted carry it, plus its times for the page's list."""
    return {
        **command_event_data(command, command.device.device_id),
        "created_at": iso_or_none(command.created_at),
        "completed_at": iso_or_none(command.completed_at),
    }


def device_state(device: Device) -> dict:
    state = {}
    for name in DEVICE_STATE_FIELDS:
        value = getattr(device, name)
        state[name] = iso_or_none(value) if hasattr(value, "isoformat") else value
    state["config_drift"] = device.config_drift
    return state


def latest_telemetry(device: Device) -> dict | None:
    """The newest reading, shaped exactly like the TelemetryReceived event that will follow it."""
    reading = latest(device)
    if reading is None:
        return None
    return telemetry_event_data(reading.ts, reading.ts_estimated, reading.source, reading.seq, reading.as_record())


def device_snapshot(device: Device) -> dict:
    commands = [
        command_payload(command)
        for command in device.commands.select_related("device").order_by("-created_at")[:RECENT_COMMANDS_LIMIT]
    ]
    return {"device": device_state(device), "telemetry": latest_telemetry(device), "commands": commands}
