"""Alert rules at work: telemetry batches in, rule state transitions and alerts out.

The bridge's telemetry writer calls `evaluate_readings` once per stored batch. Rules are compiled and
cached per process (reloaded every ALERT_RULES_RELOAD_S, or at once after a rule is saved in this
process), and every reading is matched only against the rules that cover its device: a device rule, its
group's rules and the fleet's. The state of a rule for a device lives in AlertRuleState, read once per
batch for the batch's devices and written only when something changes (pending, firing, clearing, idle),
each write conditional on the version that was read. Two bridges handling the same device at once
therefore never both open: the loser re-reads and re-evaluates, and raise_alert's unique constraint
remains the last word.

Only live readings are evaluated: SD replays are history arriving late, and an alert opened for a spike
of hours ago would page someone for nothing (the dry run shows them). Durations are measured in device
time; `advance` (the periodic pass) completes durations and clear durations for devices that report
less often than the duration, and escalates alerts open for too long.
"""

import logging
import operator
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import (
    RULE_ALERT_PREFIX,
    Alert,
    AlertRule,
    AlertRuleState,
    AlertSource,
    RuleOp,
    RulePhase,
)
from devices.models import Device
from telemetry.models import TelemetrySource

log = logging.getLogger(__name__)

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    RuleOp.GT: operator.gt,
    RuleOp.GE: operator.ge,
    RuleOp.LT: operator.lt,
    RuleOp.LE: operator.le,
}
_RACE_RETRIES = 3


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """What evaluation needs of a rule, with its comparisons resolved once."""

    id: int
    name: str
    field: str
    op: str
    threshold: float
    threshold_high: float | None
    clear_low: float
    clear_high: float | None
    duration: timedelta
    clear_duration: timedelta
    severity: str

    @classmethod
    def of(cls, rule: AlertRule) -> "CompiledRule":
        clear = rule.threshold if rule.clear_threshold is None else rule.clear_threshold
        clear_high = rule.threshold_high if rule.clear_threshold_high is None else rule.clear_threshold_high
        return cls(
            rule.pk,
            rule.name,
            rule.field,
            rule.op,
            rule.threshold,
            rule.threshold_high,
            clear,
            clear_high,
            timedelta(seconds=rule.duration_s),
            timedelta(seconds=rule.clear_duration_s),
            rule.severity,
        )

    @property
    def alert_type(self) -> str:
        return f"{RULE_ALERT_PREFIX}{self.id}"

    def breaches(self, value: float) -> bool:
        """The value is past the threshold (the condition that starts the duration)."""
        if self.op == RuleOp.OUTSIDE:
            return value < self.threshold or value > self.threshold_high
        return _COMPARE[self.op](value, self.threshold)

    def still_active(self, value: float) -> bool:
        """An open alert stays open while the value has not come back past the clear threshold."""
        if self.op == RuleOp.OUTSIDE:
            return value < self.clear_low or value > self.clear_high
        return _COMPARE[self.op](value, self.clear_low)

    def describe(self, value: float) -> str:
        if self.op == RuleOp.OUTSIDE:
            limit = f"outside {self.threshold:g}..{self.threshold_high:g}"
        else:
            limit = f"{self.op} {self.threshold:g}"
        held = f" for {self.duration.total_seconds():g} s" if self.duration else ""
        return f"{self.name}: {self.field} = {value:g} ({limit}{held})"


@dataclass(slots=True)
class StateView:
    """A state row as read (or None fields for idle): what a transition is conditional on."""

    pk: int | None
    phase: str | None
    since: datetime | None
    last_ts: datetime | None
    version: int

    @classmethod
    def of(cls, row: AlertRuleState | None) -> "StateView":
        if row is None:
            return cls.idle()
        return cls(row.pk, row.phase, row.since, row.last_ts, row.version)

    @classmethod
    def idle(cls) -> "StateView":
        return cls(None, None, None, None, 0)


def step(rule: CompiledRule, state: StateView, value: float, ts: datetime) -> tuple[str | None, datetime | None]:
    """The phase (None: idle) and its start after a reading of `value` at `ts`; pure, for tests and the pass."""
    phase, since = state.phase, state.since
    if phase is None:
        if not rule.breaches(value):
            return None, None
        return (RulePhase.FIRING if not rule.duration else RulePhase.PENDING), ts
    if phase == RulePhase.PENDING:
        if not rule.breaches(value):
            return None, None
        return (RulePhase.FIRING, ts) if ts - since >= rule.duration else (phase, since)
    if rule.still_active(value):
        return RulePhase.FIRING, (since if phase == RulePhase.FIRING else ts)
    if phase == RulePhase.FIRING:
        return (None, None) if not rule.clear_duration else (RulePhase.CLEARING, ts)
    return (None, None) if ts - since >= rule.clear_duration else (phase, since)


class RuleSet:
    """The enabled rules indexed by scope, and which of them cover each device (computed on first use)."""

    def __init__(self, rules: Iterable[AlertRule]):
        self.fleet: list[CompiledRule] = []
        self.by_group: dict = {}
        self.by_device: dict = {}
        for rule in rules:
            compiled = CompiledRule.of(rule)
            if rule.device_id:
                self.by_device.setdefault(rule.device_id, []).append(compiled)
            elif rule.group_id:
                self.by_group.setdefault(rule.group_id, []).append(compiled)
            else:
                self.fleet.append(compiled)
        self.group_of: dict = (
            dict(Device.objects.filter(group__in=list(self.by_group)).values_list("pk", "group_id"))
            if self.by_group
            else {}
        )
        self._covering: dict = {}
        self.rules = {r.id: r for r in (*self.fleet, *_flatten(self.by_group), *_flatten(self.by_device))}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def covering(self, device_pk) -> tuple[CompiledRule, ...]:
        rules = self._covering.get(device_pk)
        if rules is None:
            rules = (
                *self.by_device.get(device_pk, ()),
                *self.by_group.get(self.group_of.get(device_pk), ()),
                *self.fleet,
            )
            self._covering[device_pk] = rules
        return rules


def _flatten(lists: dict) -> list:
    return [item for values in lists.values() for item in values]


class RuleCache:
    """The current RuleSet of this process; several writer threads share it, one reloads it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: RuleSet | None = None
        self._loaded_at = 0.0

    def current(self) -> RuleSet:
        rules = self._rules
        if rules is not None and time.monotonic() - self._loaded_at < settings.ALERT_RULES_RELOAD_S:
            return rules
        with self._lock:
            if self._rules is rules:
                self._rules = RuleSet(AlertRule.objects.filter(enabled=True))
                self._loaded_at = time.monotonic()
            return self._rules

    def invalidate(self, **kwargs) -> None:
        """post_save / post_delete receiver for rules and devices (group changes): reload on next use."""
        self._rules = None


cache = RuleCache()


def evaluate_readings(readings: Iterable) -> int:
    """Run the rules over a stored batch (objects with device_pk, device_id, ts, source, record).

    Called by the telemetry writer after its commit. Returns the number of state transitions. Never
    raises: a rule problem must not stop ingest; it is logged, and the next reading tries again.
    """
    try:
        return _evaluate(readings)
    except Exception:
        log.exception("alert rules: evaluating a telemetry batch failed")
        return 0


def _evaluate(readings: Iterable) -> int:
    rules = cache.current()
    if not rules:
        return 0
    work = []
    for reading in readings:
        if reading.source == TelemetrySource.LIVE:
            covering = rules.covering(reading.device_pk)
            if covering:
                work.append((reading, covering))
    if not work:
        return 0
    work.sort(key=lambda item: (item[0].device_id, item[0].ts))
    states = {
        (row.rule_id, row.device_id): StateView.of(row)
        for row in AlertRuleState.objects.filter(device__in={reading.device_pk for reading, _ in work})
    }
    transitions = 0
    for reading, covering in work:
        record = reading.record
        for rule in covering:
            value = record.get(rule.field)
            if value is None:
                continue
            key = (rule.id, reading.device_pk)
            state = states.get(key) or StateView.idle()
            if state.last_ts is not None and reading.ts <= state.last_ts:
                continue  # redelivered or out of order: the state has already moved past it
            phase, since = step(rule, state, value, reading.ts)
            if phase == state.phase and since == state.since:
                continue
            states[key] = _transition(rule, reading.device_pk, reading.device_id, state, value, reading.ts)
            transitions += 1
    return transitions


def _transition(rule: CompiledRule, device_pk, device_id: str, state: StateView, value: float, ts) -> StateView:
    """Write the move `step` decided, conditional on `state`; on a lost race re-read and decide again."""
    for _ in range(_RACE_RETRIES):
        phase, since = step(rule, state, value, ts)
        if phase == state.phase and since == state.since:
            return state
        with transaction.atomic():
            written = _write_state(rule.id, device_pk, state, phase, since, ts, value)
            if written is not None:
                _act(rule, device_pk, device_id, state.phase, phase, value)
                return written
        state = StateView.of(AlertRuleState.objects.filter(rule_id=rule.id, device_id=device_pk).first())
        if state.last_ts is not None and ts <= state.last_ts:
            return state
    log.warning("%s: rule %s state kept changing under us; reading at %s skipped", device_id, rule.id, ts)
    return state


def _write_state(rule_id, device_pk, state: StateView, phase, since, ts, value) -> StateView | None:
    """The conditional write; None when another process changed the row first."""
    if phase is None:
        deleted, _ = AlertRuleState.objects.filter(pk=state.pk, version=state.version).delete()
        return StateView.idle() if deleted else None
    if state.pk is None:
        try:
            with transaction.atomic():
                row = AlertRuleState.objects.create(
                    rule_id=rule_id, device_id=device_pk, phase=phase, since=since, last_ts=ts, value=value
                )
        except IntegrityError:
            return None
        return StateView.of(row)
    changes = {"phase": phase, "since": since, "last_ts": ts, "value": value, "version": state.version + 1}
    if not AlertRuleState.objects.filter(pk=state.pk, version=state.version).update(**changes):
        return None
    return StateView(state.pk, phase, since, ts, state.version + 1)


def _act(rule: CompiledRule, device_pk, device_id: str, before: str | None, after: str | None, value) -> None:
    """Open the alert on entering firing from idle or pending; resolve it on leaving to idle."""
    from alerts.services import raise_alert, resolve_alert

    device = Device(pk=device_pk, device_id=device_id)
    if after == RulePhase.FIRING and before in (None, RulePhase.PENDING):
        raise_alert(
            device,
            rule.alert_type,
            rule.severity,
            rule.describe(value),
            value=value,
            threshold=rule.threshold,
            metadata={"rule": rule.id, "field": rule.field},
            source=AlertSource.CONSOLE,
            rule_id=rule.id,
        )
    elif after is None and before in (RulePhase.FIRING, RulePhase.CLEARING):
        resolve_alert(device, rule.alert_type, reason=f"{rule.field} = {value:g}: back within the clear threshold")


def advance(now: datetime | None = None) -> dict:
    """The periodic pass: finish durations and clear durations that elapsed, escalate, tidy up.

    A device reporting every 60 s with a 10 s duration would otherwise open 50 s late: the last reading
    is taken to hold until the next one says otherwise. Rows move with the same conditional writes as
    on the telemetry path, so the pass and the bridges never both act.
    """
    now = now or timezone.now()
    done = {"opened": 0, "resolved": 0, "escalated": 0, "retired": 0}
    rules = {rule.pk: rule for rule in AlertRule.objects.all()}
    compiled = {pk: CompiledRule.of(rule) for pk, rule in rules.items()}
    states = AlertRuleState.objects.filter(phase__in=[RulePhase.PENDING, RulePhase.CLEARING]).select_related("device")
    for row in states:
        rule = compiled[row.rule_id]
        if not rules[row.rule_id].enabled:
            continue
        elapsed = now - row.since
        due = rule.duration if row.phase == RulePhase.PENDING else rule.clear_duration
        if elapsed < due:
            continue
        target = RulePhase.FIRING if row.phase == RulePhase.PENDING else None
        with transaction.atomic():
            # Device time stays the clock of the row: the phase began when the duration was complete.
            written = _write_state(
                rule.id, row.device_id, StateView.of(row), target, row.since + due, row.last_ts, row.value
            )
            if written is not None:
                _act(rule, row.device_id, row.device.device_id, row.phase, target, row.value)
                done["opened" if target else "resolved"] += 1
    done["escalated"] = _escalate(rules, now)
    done["retired"] = _retire(rules)
    return done


def _escalate(rules: dict, now: datetime) -> int:
    """Raise alerts open longer than their rule's escalate_after_s to escalate_to, once, and notify again."""
    from alerts.services import escalate_alert

    escalated = 0
    candidates = AlertRuleState.objects.filter(
        phase__in=[RulePhase.FIRING, RulePhase.CLEARING], escalated=False, rule__escalate_after_s__isnull=False
    )
    for row in candidates.select_related("device"):
        rule = rules[row.rule_id]
        alert = Alert.objects.filter(device_id=row.device_id, alert_type=rule.alert_type, resolved_at__isnull=True)
        alert = alert.first()
        if alert is None or now - alert.created_at < timedelta(seconds=rule.escalate_after_s):
            continue
        with transaction.atomic():
            won = AlertRuleState.objects.filter(pk=row.pk, version=row.version).update(
                escalated=True, version=F("version") + 1
            )
            if won and escalate_alert(alert, rule.escalate_to, after_s=rule.escalate_after_s):
                escalated += 1
    return escalated


def _retire(rules: dict) -> int:
    """Resolve alerts whose rule was deleted or disabled, and forget the disabled rules' states."""
    from alerts.services import resolve_alert

    disabled = [pk for pk, rule in rules.items() if not rule.enabled]
    AlertRuleState.objects.filter(rule_id__in=disabled).delete()
    orphans = Alert.objects.filter(alert_type__startswith=RULE_ALERT_PREFIX, resolved_at__isnull=True).exclude(
        rule_id__in=[pk for pk, rule in rules.items() if rule.enabled]
    )
    retired = 0
    for alert in orphans.select_related("device"):
        retired += resolve_alert(alert.device, alert.alert_type, reason="rule deleted or disabled")
    return retired
