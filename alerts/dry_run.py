"""A rule's dry run: how often it would have opened over the stored history, before anyone relies on it.

The rule is replayed through the same `step` as live evaluation, device by device over the last
ALERT_RULE_DRY_RUN_DAYS (7), including SD replays: history is history here. It replays the stored
readings when the scope's readings fit in ALERT_RULE_DRY_RUN_MAX_ROWS and reach back the whole period
(TELEMETRY_RAW_RETENTION_DAYS). A fleet rule rarely fits (one device every 5 s is 120,960 readings a
week), so past the limit, or with readings kept for fewer days, it replays the 5-minute rollups instead
(about 2,000 rows per device and week), each bucket standing for its worst value for the rule: the
maximum for `>`, the minimum for `<`, whichever is further out of the band for `outside`. Durations then
count in whole buckets. Only when even the rollups do not fit is the answer marked truncated.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from acuvim_console.protocol.quantities import BY_FIELD, Aggregate, Quantity
from alerts.models import AlertRule, RuleOp, RulePhase
from alerts.rules import CompiledRule, StateView, step
from devices.models import Device
from telemetry.models import FiveMinuteRollup, TelemetryRecord, first_column, rollup_column

LISTED_DEVICES = 20


@dataclass
class DryRun:
    since: datetime
    until: datetime
    readings: int = 0
    devices: int = 0
    would_open: int = 0
    truncated: bool = False
    resolution: str = "raw"  # or "5min": the rollups were replayed
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
            "resolution": self.resolution,
            "devices_alerted": len(self.by_device),
            "busiest": [{"device_id": device_id, **counts} for device_id, counts in busiest],
        }


def dry_run(rule: AlertRule, now: datetime | None = None) -> DryRun:
    """Replay an unsaved (or saved) telemetry rule over the stored history of its scope."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.ALERT_RULE_DRY_RUN_DAYS)
    compiled = CompiledRule.of(rule)
    devices = Device.objects.all()
    if rule.device_id:
        devices = devices.filter(pk=rule.device_id)
    elif rule.group_id:
        devices = devices.filter(group_id=rule.group_id)
    # Readings kept for fewer days than the dry run looks back cover only part of it: the rollups then.
    readings_reach_back = settings.TELEMETRY_RAW_RETENTION_DAYS >= settings.ALERT_RULE_DRY_RUN_DAYS
    raw = _replay_readings(compiled, devices, since, now) if readings_reach_back else None
    if raw is not None and not raw.truncated:
        return raw
    rolled = _replay_rollups(compiled, devices, since, now)
    if rolled.readings:
        return rolled
    return raw if raw is not None else _replay_readings(compiled, devices, since, now)  # no rollups yet


def _replay_readings(compiled: CompiledRule, devices, since: datetime, now: datetime) -> DryRun:
    readings = (
        TelemetryRecord.objects.filter(device__in=devices, ts__gte=since, ts__lte=now)
        .order_by("device_id", "ts")
        .values_list("device__device_id", "ts", BY_FIELD[compiled.field].column)
    )
    rows = readings[: settings.ALERT_RULE_DRY_RUN_MAX_ROWS + 1].iterator(chunk_size=2000)
    return _replay(compiled, rows, DryRun(since=since, until=now))


def _replay_rollups(compiled: CompiledRule, devices, since: datetime, now: datetime) -> DryRun:
    bucket = timedelta(seconds=FiveMinuteRollup.BUCKET_SECONDS)
    buckets = (
        FiveMinuteRollup.objects.filter(device__in=devices, bucket__gte=since, bucket__lte=now)
        .order_by("device_id", "bucket")
        .annotate(end=F("bucket") + bucket)
        .values_list("device__device_id", "end", *_bucket_range_columns(BY_FIELD[compiled.field]))
    )
    worst = _worst_of_bucket(compiled)
    rows = buckets[: settings.ALERT_RULE_DRY_RUN_MAX_ROWS + 1].iterator(chunk_size=2000)
    return _replay(
        compiled,
        ((device_id, end, worst(low, high)) for device_id, end, low, high in rows),
        DryRun(since=since, until=now, resolution="5min"),
    )


def _bucket_range_columns(quantity: Quantity) -> tuple[str, str]:
    """The rollup columns of a bucket's lowest and highest value.

    The rollups keep no min or max of an energy counter (Quantity.aggregates): it only grows, so its
    first and last reading of the bucket are its extremes (a meter reset inside the bucket aside).
    """
    if quantity.counter:
        return first_column(quantity), rollup_column(quantity, Aggregate.LAST)
    return rollup_column(quantity, Aggregate.MIN), rollup_column(quantity, Aggregate.MAX)


def _worst_of_bucket(rule: CompiledRule):
    """A bucket's (min, max) as the one value that breaches this rule first."""
    if rule.op in (RuleOp.GT, RuleOp.GE):
        return lambda low, high: high
    if rule.op in (RuleOp.LT, RuleOp.LE):
        return lambda low, high: low

    def outermost(low, high):
        if low is None or high is None:
            return None
        return low if rule.threshold - low > high - rule.threshold_high else high

    return outermost


def _replay(compiled: CompiledRule, rows, result: DryRun) -> DryRun:
    """Step the rule through (device_id, ts, value) rows ordered by device and time, up to the row limit."""
    limit = settings.ALERT_RULE_DRY_RUN_MAX_ROWS
    current, state = None, StateView.idle()
    for device_id, ts, value in rows:
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
