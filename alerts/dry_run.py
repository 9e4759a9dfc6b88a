"""A rule's dry run: how often it would have opened over the stored history, before anyone relies on it.

The rule is replayed through the same `step` as live evaluation, device by device over the readings of
the last ALERT_RULE_DRY_RUN_DAYS (7), including SD replays: history is history here. It reads the
stored records' quantities (the record as the device sent it), newest devices' rows up to
ALERT_RULE_DRY_RUN_MAX_ROWS; past that the answer says it is truncated and how far it got.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from acuvim_console.protocol.quantities import BY_FIELD
from alerts.models import AlertRule, RulePhase
from alerts.rules import CompiledRule, StateView, step
from devices.models import Device
from telemetry.models import TelemetryRecord

LISTED_DEVICES = 20


@dataclass
class DryRun:
    since: datetime
    until: datetime
    readings: int = 0
    devices: int = 0
    would_open: int = 0
    truncated: bool = False
    by_device: dict = field(default_factory=dict)  # device_id -> {"opened": n, "first_at": iso}

    def as_dict(self) -> dict:
        busiest = sorted(self.by_device.items(), key=lambda item: -item[1]["opened"])[:LISTED_DEVICES]
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "readings": self.readings,
            "devices": self.devices,
            "would_open": self.would_open,
            "truncated": self.truncated,
            "devices_alerted": len(self.by_device),
            "busiest": [{"device_id": device_id, **counts} for device_id, counts in busiest],
        }


def dry_run(rule: AlertRule, now: datetime | None = None) -> DryRun:
    """Replay an unsaved (or saved) telemetry rule over the stored history of its scope."""
    now = now or timezone.now()
    result = DryRun(since=now - timedelta(days=settings.ALERT_RULE_DRY_RUN_DAYS), until=now)
    compiled = CompiledRule.of(rule)
    devices = Device.objects.all()
    if rule.device_id:
        devices = devices.filter(pk=rule.device_id)
    elif rule.group_id:
        devices = devices.filter(group_id=rule.group_id)
    column = BY_FIELD[compiled.field].column
    rows = (
        TelemetryRecord.objects.filter(device__in=devices, ts__gte=result.since, ts__lte=now)
        .order_by("device_id", "ts")
        .values_list("device__device_id", "ts", column)
    )
    limit = settings.ALERT_RULE_DRY_RUN_MAX_ROWS
    current, state = None, StateView.idle()
    for device_id, ts, value in rows[: limit + 1].iterator(chunk_size=2000):
        if result.readings == limit:
            result.truncated = True
            break
        result.readings += 1
        if device_id != current:
            current, state = device_id, StateView.idle()
            result.devices += 1
        if value is None:
            continue
        phase, since = step(compiled, state, value, ts)
        if phase == RulePhase.FIRING and state.phase in (None, RulePhase.PENDING):
            result.would_open += 1
            counts = result.by_device.setdefault(device_id, {"opened": 0, "first_at": ts.isoformat()})
            counts["opened"] += 1
        state = StateView(None, phase, since, ts, 0)
    return result
