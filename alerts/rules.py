"""Alert rules at work: telemetry batches in, rule state transitions and alerts out.

The bridge's telemetry writer calls `evaluate_readings` once per stored batch. Rules are compiled and
cached per process (checked for changes every ALERT_RULES_RELOAD_S, rebuilt at once after a rule is
saved in this process), and every reading is matched only against the rules that cover its device: a
device rule, its group's rules and the fleet's, grouped by quantity. The state of a rule for a device
lives in AlertRuleState, read once per batch for the batch's devices and written only when something
changes (pending, firing, clearing, idle), each write conditional on the version that was read. Two
bridges handling the same device at once therefore never both open: the loser re-reads and
re-evaluates, and raise_alert's unique constraint remains the last word.

Only live readings are evaluated: SD replays are history arriving late, and an alert opened for a spike
of hours ago would page someone for nothing (the dry run shows them). Durations are measured in device
time; `advance` (the periodic pass) completes durations and clear durations for devices that report
less often than the duration, evaluates the health rules, and escalates alerts open for too long.
"""

import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.utils import timezone

from acuvim_console.protocol.enums import CommandName, DeviceOtaState, TelemetrySource
from alerts.models import (
    RULE_ALERT_PREFIX,
    Alert,
    AlertRule,
    AlertRuleState,
    AlertSource,
    HealthQuantity,
    RuleOp,
    RulePhase,
)
from alerts.services import escalate_alert, raise_alert, resolve_alert
from devices.choices import UNACCEPTED_STATUSES, CommandStatus, DeviceStatus
from devices.models import Command, Device

log = logging.getLogger(__name__)

# `value op limit` as limit's mirrored comparison bound first (partial(lt, 250)(v) is 250 < v, i.e. v > 250):
# one call into C per rule and reading, which is what keeps 1,000 rules cheap on the hot path.
_MIRRORED: dict[str, Callable[[float, float], bool]] = {
    RuleOp.GT: operator.lt,
    RuleOp.GE: operator.le,
    RuleOp.LT: operator.gt,
    RuleOp.LE: operator.ge,
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
    duration: timedelta
    clear_duration: timedelta
    severity: str
    breaches: Callable[[float], bool]  # the value is past the threshold (starts the duration)
    still_active: Callable[[float], bool]  # an open alert stays open: not back past the clear threshold

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
            timedelta(seconds=rule.duration_s),
            timedelta(seconds=rule.clear_duration_s),
            rule.severity,
            _condition(rule.op, rule.threshold, rule.threshold_high),
            _condition(rule.op, clear, clear_high),
        )

    @property
    def alert_type(self) -> str:
        return f"{RULE_ALERT_PREFIX}{self.id}"

    def describe(self, value: float) -> str:
        if self.op == RuleOp.OUTSIDE:
            limit = f"outside {_number(self.threshold)}..{_number(self.threshold_high)}"
        else:
            limit = f"{self.op} {_number(self.threshold)}"
        held = f" for {self.duration.total_seconds():g} s" if self.duration else ""
        return f"{self.name}: {self.field} = {_number(value)} ({limit}{held})"


def _number(value: float) -> str:
    """252, 0.85, 40,000,000: as an engineer writes them (not 4e+07)."""
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:g}"


def _condition(op: str, limit: float, high: float | None) -> Callable[[float], bool]:
    if op == RuleOp.OUTSIDE:
        return lambda value: value < limit or value > high
    return partial(_MIRRORED[op], limit)


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
    """The enabled rules indexed by scope, and which of them cover each device (computed on first use).

    Devices are keyed by their device_id string, not their UUID: a str hashes in C, a UUID in Python,
    and the hot path looks a device up once per reading.
    """

    def __init__(self, rules: Iterable[AlertRule]):
        self.fleet: list[CompiledRule] = []
        self.by_group: dict = {}
        self.by_device: dict = {}
        for rule in rules:
            compiled = CompiledRule.of(rule)
            if rule.device_id:
                self.by_device.setdefault(rule.device.device_id, []).append(compiled)
            elif rule.group_id:
                self.by_group.setdefault(rule.group_id, []).append(compiled)
            else:
                self.fleet.append(compiled)
        self.group_of: dict = (
            dict(Device.objects.filter(group__in=list(self.by_group)).values_list("device_id", "group_id"))
            if self.by_group
            else {}
        )
        self._covering: dict = {}
        self.count = len(self.fleet) + len(_flatten(self.by_group)) + len(_flatten(self.by_device))

    def __bool__(self) -> bool:
        return bool(self.count)

    def covering(self, device_id: str) -> tuple:
        """The device's rules as (field, low, high, rules) per quantity, in a tuple (empty: no rules)."""
        groups = self._covering.get(device_id)
        if groups is None:
            rules = (
                *self.by_device.get(device_id, ()),
                *self.by_group.get(self.group_of.get(device_id), ()),
                *self.fleet,
            )
            groups = self._covering[device_id] = _by_field(rules)
        return groups


def _by_field(rules: Iterable[CompiledRule]) -> tuple:
    """Rules of one quantity together, with the open interval low < value < high where none of them breaches.

    A reading inside it needs no rule looked at (when the device has no rule state): one chained
    comparison per quantity instead of one call per rule. The interval may be narrower than exact
    (a value equal to a `>` threshold falls outside it and is then checked rule by rule).
    """
    fields: dict[str, list[CompiledRule]] = {}
    for rule in rules:
        fields.setdefault(rule.field, []).append(rule)
    groups = []
    for field, members in fields.items():
        low, high = -math.inf, math.inf
        for rule in members:
            if rule.op in (RuleOp.GT, RuleOp.GE):
                high = min(high, rule.threshold)
            elif rule.op in (RuleOp.LT, RuleOp.LE):
                low = max(low, rule.threshold)
            else:
                low, high = max(low, rule.threshold), min(high, rule.threshold_high)
        groups.append((field, low, high, tuple(members)))
    return tuple(groups)


def _flatten(lists: dict) -> list:
    return [item for values in lists.values() for item in values]


class RuleCache:
    """The current RuleSet of this process; several writer threads share it, one reloads it.

    Every ALERT_RULES_RELOAD_S it asks the database whether anything changed (the rules' count and
    newest update, the grouped devices' memberships) and rebuilds only then: rebuilding 1,000 rules
    and their per-device index every few seconds cost more than evaluating them.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: RuleSet | None = None
        self._signature = None
        self._checked_at = 0.0

    def current(self) -> RuleSet:
        rules = self._rules
        if rules is not None and time.monotonic() - self._checked_at < settings.ALERT_RULES_RELOAD_S:
            return rules
        with self._lock:
            if self._rules is rules:
                signature = _rules_signature()
                if self._rules is None or signature != self._signature:
                    self._rules, self._signature = RuleSet(_telemetry_rules()), signature
                self._checked_at = time.monotonic()
            return self._rules

    def invalidate(self, **kwargs) -> None:
        """post_save / post_delete receiver for rules: rebuild on next use."""
        self._rules = None


# What CompiledRule.of and RuleSet read of a rule: loading only these halves a rebuild of 1,000 rules
# (about 40 ms to 20 ms of the writer thread, on every bridge, after each rule change).
_COMPILED_FIELDS = (
    "name", "field", "op", "threshold", "threshold_high", "clear_threshold", "clear_threshold_high",
    "duration_s", "clear_duration_s", "severity", "group", "device__device_id",
)  # fmt: skip


def _telemetry_rules():
    enabled = AlertRule.objects.filter(enabled=True).exclude(field__in=HealthQuantity.values)
    return enabled.select_related("device").only(*_COMPILED_FIELDS)


def _rules_signature() -> tuple:
    """Changes when a rule is added, saved or deleted, or a device joins or leaves a group a rule watches."""
    rules = AlertRule.objects.aggregate(count=Count("id"), latest=Max("updated_at"))
    watched = AlertRule.objects.filter(enabled=True, group__isnull=False).values("group")
    members = frozenset(Device.objects.filter(group__in=watched).values_list("device_id", "group_id"))
    return rules["count"], rules["latest"], hash(members)


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
    live = TelemetrySource.LIVE.value
    work = []
    for reading in readings:
        if reading.source == live:
            covering = rules.covering(reading.device_id)
            if covering:
                work.append((reading, covering))
    if not work:
        return 0
    work.sort(key=lambda item: (item[0].device_id, item[0].ts))
    states = _states_of(list({reading.device_id: reading.device_pk for reading, _ in work}.values()))
    transitions = 0
    for reading, covering in work:
        get = reading.record.get
        device_states = states.get(reading.device_id)
        for field, low, high, rules_of_field in covering:
            value = get(field)
            if value is None or (device_states is None and low < value < high):
                continue  # nearly every reading ends here: no rule state, no rule breached
            for rule in rules_of_field:
                state = device_states.get(rule.id) if device_states else None
                if state is None:
                    if not rule.breaches(value):
                        continue
                    state = StateView.idle()
                elif state.last_ts is not None and reading.ts <= state.last_ts:
                    continue  # redelivered or out of order: the state has already moved past it
                phase, since = step(rule, state, value, reading.ts)
                if phase == state.phase and since == state.since:
                    continue
                if device_states is None:
                    device_states = states[reading.device_id] = {}
                device_states[rule.id] = _transition(
                    rule, reading.device_pk, reading.device_id, state, value, reading.ts
                )
                transitions += 1
    return transitions


_STATE = AlertRuleState._meta
_STATES_POSTGRESQL = (
    f"SELECT s.id, s.rule_id, d.device_id, s.phase, s.since, s.last_ts, s.version FROM {_STATE.db_table} s "  # noqa: S608
    f"JOIN {Device._meta.db_table} d ON d.id = s.device_id WHERE s.device_id = ANY(%b)"
)


def _states_of(device_pks: list) -> dict:
    """device_id -> {rule id: StateView} for the rules that are not idle on these devices.

    One query per batch. On PostgreSQL the device keys travel as one binary array bound server-side:
    Django's client-side binding of a thousand UUIDs into the SQL text cost more than the rules.
    """
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            rows = cursor.execute(_STATES_POSTGRESQL, [device_pks]).fetchall()
    else:
        rows = AlertRuleState.objects.filter(device__in=device_pks).values_list(
            "pk", "rule_id", "device__device_id", "phase", "since", "last_ts", "version"
        )
    states: dict = {}
    for pk, rule_id, device_id, phase, since, last_ts, version in rows:
        states.setdefault(device_id, {})[rule_id] = StateView(pk, phase, since, last_ts, version)
    return states


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
    health_rules = [rule for rule in rules.values() if rule.enabled and rule.watches_health]
    done["health"] = sum(_evaluate_health(rule, compiled[rule.pk], now) for rule in health_rules)
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
    done["escalated"] = _escalate(now)
    done["retired"] = _retire(rules)
    return done


# Device columns the health quantities are computed from.
_HEALTH_COLUMNS = (
    "pk", "device_id", "status", "status_changed_at", "heap_free", "sd_queued", "sd_queue_growth",
    "boot_count", "boot_window_started_at", "boot_window_start_count", "ota_state",
)  # fmt: skip


def _evaluate_health(rule: AlertRule, compiled: CompiledRule, now: datetime) -> int:
    """A health rule over the devices of its scope whose rule state may move now, with `now` as the time.

    Proportional to what changes, not to the fleet: the database picks the devices (see health_candidates)
    and only those are read and stepped.
    """
    rows = list(health_candidates(rule, now).values(*_HEALTH_COLUMNS))
    if not rows:
        return 0
    states = {
        row.device_id: StateView.of(row)
        for row in AlertRuleState.objects.filter(rule=rule, device__in=[row["pk"] for row in rows])
    }
    return step_devices(rule, compiled, rows, states, now)


def step_devices(rule: AlertRule, compiled: CompiledRule, rows: list[dict], states: dict, now: datetime) -> int:
    """Step these devices' rule states by their health values now; how many moved."""
    values = health_values(rule.field, rows, now)
    transitions = 0
    for row in rows:
        value = values.get(row["pk"])
        if value is None:
            continue
        state = states.get(row["pk"]) or StateView.idle()
        phase, since = step(compiled, state, value, now)
        if (phase, since) != (state.phase, state.since):
            _transition(compiled, row["pk"], row["device_id"], state, value, now)
            transitions += 1
    return transitions


def health_scope(rule: AlertRule):
    """The accepted devices a health rule watches."""
    devices = Device.objects.exclude(status__in=UNACCEPTED_STATUSES)
    if rule.device_id:
        return devices.filter(pk=rule.device_id)
    if rule.group_id:
        return devices.filter(group_id=rule.group_id)
    return devices


def health_candidates(rule: AlertRule, now: datetime):
    """The devices of the rule's scope whose state can move this pass, chosen in SQL.

    A device without a state row matters only if it breaches now: for "offline for 10 minutes" those are
    the devices offline since before now - 600 s that have no row yet, i.e. the ones that crossed the
    threshold since the last pass (an indexed range on the offline devices). A device with a row matters
    if it is pending or clearing, or firing while the value is back past the clear threshold. Firing
    devices that still breach, and every healthy device, are never read. The GSM budget's value lives in
    command answers, so for it the candidates are the devices that answered gsm_status this month.
    """
    scope = health_scope(rule)
    states = AlertRuleState.objects.filter(rule=rule)
    if rule.field == HealthQuantity.GSM_BYTES_MONTH:
        answered = Command.objects.filter(
            command=CommandName.GSM_STATUS, status=CommandStatus.SUCCESS, completed_at__gte=_month_start(now)
        )
        return scope.filter(Q(pk__in=answered.values("device")) | Q(pk__in=states.values("device")))
    clear = rule.threshold if rule.clear_threshold is None else rule.clear_threshold
    clear_high = rule.threshold_high if rule.clear_threshold_high is None else rule.clear_threshold_high
    breaching = scope.filter(health_q(rule.field, rule.op, rule.threshold, rule.threshold_high, now)).exclude(
        Exists(states.filter(device=OuterRef("pk")))
    )
    recovered = states.filter(phase=RulePhase.FIRING).exclude(
        device__in=Device.objects.filter(health_q(rule.field, rule.op, clear, clear_high, now))
    )
    waiting = states.filter(phase__in=[RulePhase.PENDING, RulePhase.CLEARING])
    moving = list(waiting.values_list("device", flat=True).union(recovered.values_list("device", flat=True)))
    return breaching.union(scope.filter(pk__in=moving)) if moving else breaching


def health_q(quantity: str, op: str, limit: float, high: float | None, now: datetime) -> Q:
    """`value op limit` for a health quantity (`outside`: below limit or above high), as a filter on devices.

    Written on the columns themselves, so that the database can use their indexes: seconds offline above
    600 becomes "offline, and changed status before now - 600 s". Devices whose value is unknown (heap
    and SD queue of an offline device) never match, as the pass skips them.
    """
    if op == RuleOp.OUTSIDE:
        return health_q(quantity, RuleOp.LT, limit, None, now) | health_q(quantity, RuleOp.GT, high, None, now)
    offline = Q(status=DeviceStatus.OFFLINE)
    if quantity == HealthQuantity.OFFLINE_S:
        since = Q(status_changed_at__isnull=False)
        changed = Q(**{f"status_changed_at__{_MIRRORED_LOOKUP[op]}": now - timedelta(seconds=limit)})
        return _zero_or(offline & since & changed, ~(offline & since), op, limit)
    if quantity in _LAST_HEARTBEAT:
        # isnull spelled out: Django drops a comparison it finds always true for the column's range
        # (heap_free > -1 on a positive integer), and NULL would then match.
        known = Q(**{f"{quantity}__isnull": False})
        return ~offline & known & Q(**{f"{quantity}__{_LOOKUP[op]}": limit})
    if quantity == HealthQuantity.OTA_ROLLED_BACK:
        rolled_back = Q(ota_state=DeviceOtaState.ROLLED_BACK)
        one = rolled_back if _MIRRORED[op](limit, 1.0) else Q(pk__in=[])
        return _zero_or(one, ~rolled_back, op, limit)
    if quantity == HealthQuantity.BOOTS_RECENT:
        window = timedelta(seconds=settings.HEALTH_ANOMALIES["reboot_loop_window_s"])
        recent = Q(
            boot_window_started_at__gte=now - window,
            boot_window_start_count__isnull=False,
            boot_count__isnull=False,
        )
        boots = Q(**{f"boot_count__{_LOOKUP[op]}": F("boot_window_start_count") + limit})
        return _zero_or(recent & boots, ~recent, op, limit)
    raise ValueError(f"no SQL form for health quantity {quantity}")


def _zero_or(match: Q, zero: Q, op: str, limit: float) -> Q:
    """`match`, or also the devices whose value is 0 (`zero`) when 0 itself satisfies `0 op limit`."""
    return match | zero if _MIRRORED[op](limit, 0.0) else match


# Quantities read as the last heartbeat left them on the device column of the same name.
_LAST_HEARTBEAT = (HealthQuantity.HEAP_FREE, HealthQuantity.SD_QUEUED, HealthQuantity.SD_QUEUE_GROWTH)
_LOOKUP = {RuleOp.GT: "gt", RuleOp.GE: "gte", RuleOp.LT: "lt", RuleOp.LE: "lte"}
# now - changed > limit  <=>  changed < now - limit: the comparison on the timestamp is the mirror.
_MIRRORED_LOOKUP = {RuleOp.GT: "lt", RuleOp.GE: "lte", RuleOp.LT: "gt", RuleOp.LE: "gte"}


def health_values(quantity: str, rows: list[dict], now: datetime) -> dict:
    """Device pk -> the health quantity now (None: not known, e.g. no heartbeat since the console started)."""
    if quantity == HealthQuantity.GSM_BYTES_MONTH:
        return _gsm_bytes_this_month([row["pk"] for row in rows], now)
    reboot_window = timedelta(seconds=settings.HEALTH_ANOMALIES["reboot_loop_window_s"])
    values = {}
    for row in rows:
        if quantity == HealthQuantity.OFFLINE_S:
            offline = row["status"] == DeviceStatus.OFFLINE and row["status_changed_at"] is not None
            value = (now - row["status_changed_at"]).total_seconds() if offline else 0.0
        elif quantity == HealthQuantity.OTA_ROLLED_BACK:
            value = 1.0 if row["ota_state"] == DeviceOtaState.ROLLED_BACK else 0.0
        elif quantity == HealthQuantity.BOOTS_RECENT:
            started, start_count = row["boot_window_started_at"], row["boot_window_start_count"]
            recent = started is not None and start_count is not None and now - started <= reboot_window
            value = float(row["boot_count"] - start_count) if recent else 0.0
        elif row["status"] == DeviceStatus.OFFLINE:
            value = None  # the last heartbeat's figures say nothing about a device that is away
        else:
            value = row[quantity]
        values[row["pk"]] = value
    return values


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _gsm_bytes_this_month(device_pks: list, now: datetime) -> dict:
    """The latest successful gsm_status answer of this calendar month (UTC) per device: its bytes_month."""
    answers = (
        Command.objects.filter(
            device__in=device_pks,
            command=CommandName.GSM_STATUS,
            status=CommandStatus.SUCCESS,
            completed_at__gte=_month_start(now),
        )
        .order_by("completed_at")
        .values_list("device_id", "response")
    )
    values = {}
    for device_pk, response in answers:
        used = response.get("bytes_month") if isinstance(response, dict) else None
        if type(used) in (int, float):
            values[device_pk] = float(used)
    return values


def _escalate(now: datetime) -> int:
    """Raise alerts open longer than their rule's escalate_after_s to escalate_to, and notify again.

    Once only: escalate_alert's update is conditional on the alert not having that severity yet, so two
    passes running at once (two beat workers) escalate it once.
    """
    waiting = (
        Alert.objects.filter(resolved_at__isnull=True, rule__enabled=True, rule__escalate_after_s__isnull=False)
        .exclude(severity=F("rule__escalate_to"))
        .select_related("rule")
    )
    escalated = 0
    for alert in waiting:
        rule = alert.rule
        if now - alert.created_at >= timedelta(seconds=rule.escalate_after_s):
            escalated += escalate_alert(alert, rule.escalate_to, after_s=rule.escalate_after_s)
    return escalated


def _retire(rules: dict) -> int:
    """Resolve alerts whose rule was deleted or disabled, and forget the disabled rules' states."""
    disabled = [pk for pk, rule in rules.items() if not rule.enabled]
    AlertRuleState.objects.filter(rule_id__in=disabled).delete()
    orphans = Alert.objects.filter(alert_type__startswith=RULE_ALERT_PREFIX, resolved_at__isnull=True).exclude(
        rule_id__in=[pk for pk, rule in rules.items() if rule.enabled]
    )
    retired = 0
    for alert in orphans.select_related("device"):
        retired += resolve_alert(alert.device, alert.alert_type, reason="rule deleted or disabled")
    return retired
