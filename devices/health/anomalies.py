"""Health anomalies read from heartbeats: what the console should alert on before a site goes dark.

Each rule compares the new heartbeat with what the device reported before (the Device row, not yet
updated) and says whether its alert should be raised, cleared, or left as it is. The rules are pure:
they take plain values and return findings, so they are tested without a database or a broker.
Thresholds come from settings.HEALTH_ANOMALIES.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acuvim_console.protocol.enums import DeviceOtaState, Severity
from alerts.models import AlertType
from devices.choices import CRASH_RESET_REASONS


@dataclass(frozen=True)
class Finding:
    """An alert to raise (`active`) or to clear (not `active`)."""

    alert_type: AlertType
    active: bool
    severity: Severity = Severity.WARNING
    message: str = ""
    value: float | None = None
    threshold: float | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Previous:
    """What the console knew about the device before this heartbeat."""

    heap_free: int | None = None
    modbus_errors: int | None = None
    sd_queued: int | None = None
    ota_state: str = ""
    heap_decline_streak: int = 0
    heap_decline_start: int | None = None
    boot_window_started_at: datetime | None = None
    boot_window_start_count: int | None = None


@dataclass
class Assessment:
    findings: list[Finding]
    state: dict  # Device fields that carry the rules' memory to the next heartbeat


def assess(previous: Previous, beat: dict, at: datetime, limits: dict) -> Assessment:
    """Judge one heartbeat (`beat` uses Device field names; a missing value skips its rule)."""
    findings: list[Finding] = []
    state: dict = {}
    for rule in (_reboot_loop, _unexpected_reset, _heap_low, _heap_falling, _modbus_errors, _sd_backlog, _ota):
        finding = rule(previous, beat, at, limits, state)
        if finding is not None:
            findings.append(finding)
    return Assessment(findings, state)


def _reboot_loop(previous, beat, at, limits, state):
    boot = beat.get("boot_count")
    if boot is None:
        return None
    window = timedelta(seconds=limits["reboot_loop_window_s"])
    started, start_count = previous.boot_window_started_at, previous.boot_window_start_count
    if started is None or start_count is None or at - started > window or boot < start_count:
        started, start_count = at, boot
        state.update(boot_window_started_at=started, boot_window_start_count=start_count)
    boots = boot - start_count
    if boots >= limits["reboot_loop_boots"]:
        return Finding(
            AlertType.CRASH_LOOP,
            True,
            Severity.CRITICAL,
            f"rebooted {boots} times in {int((at - started).total_seconds() // 60)} min "
            f"(last reset: {beat.get('reset_reason') or 'unknown'})",
            value=boots,
            threshold=limits["reboot_loop_boots"],
            metadata={"boot": boot, "since": started.isoformat()},
        )
    return Finding(AlertType.CRASH_LOOP, False)


def _unexpected_reset(previous, beat, at, limits, state):
    reason, uptime = beat.get("reset_reason"), beat.get("uptime_s")
    if reason is None:
        return None
    recent = uptime is None or uptime < limits["reboot_loop_window_s"]
    if reason in CRASH_RESET_REASONS and recent:
        return Finding(
            AlertType.UNEXPECTED_RESET,
            True,
            message=f"restarted after a {reason} reset (boot {beat.get('boot_count')})",
            metadata={"reset": reason, "boot": beat.get("boot_count")},
        )
    return Finding(AlertType.UNEXPECTED_RESET, False)


def _heap_low(previous, beat, at, limits, state):
    heap = beat.get("heap_free")
    if heap is None:
        return None
    limit = limits["heap_low_bytes"]
    if heap < limit:
        return Finding(
            AlertType.LOW_HEAP,
            True,
            message=f"free heap {heap // 1024} KB is below {limit // 1024} KB",
            value=heap,
            threshold=limit,
        )
    return Finding(AlertType.LOW_HEAP, False)


def _heap_falling(previous, beat, at, limits, state):
    """A leak: free heap (measured after a collection) lower at every heartbeat, by a real amount in total.

    Both conditions matter: a streak alone happens by chance with a noisy heap, a drop alone is a
    single large allocation.
    """
    heap = beat.get("heap_free")
    if heap is None or previous.heap_free is None:
        return None
    streak, start = previous.heap_decline_streak, previous.heap_decline_start
    if heap < previous.heap_free:
        streak, start = streak + 1, (start if streak and start is not None else previous.heap_free)
    elif heap > previous.heap_free:
        streak, start = 0, None
    state.update(heap_decline_streak=streak, heap_decline_start=start)
    needed, fallen = limits["heap_falling_heartbeats"], (start or heap) - heap
    if streak >= needed and fallen >= limits["heap_falling_bytes"]:
        return Finding(
            AlertType.HEAP_FALLING,
            True,
            message=f"free heap fell {fallen // 1024} KB over {streak} heartbeats in a row, now {heap // 1024} KB "
            f"(leak?)",
            value=heap,
            threshold=needed,
            metadata={"streak": streak, "fallen_bytes": fallen},
        )
    return Finding(AlertType.HEAP_FALLING, False) if streak == 0 else None


def _modbus_errors(previous, beat, at, limits, state):
    errors = beat.get("modbus_errors")
    if errors is None:
        return None
    before = previous.modbus_errors
    # The counter restarts at boot: a smaller value means "this many since the reboot".
    growth = errors if before is None or errors < before else errors - before
    limit = limits["modbus_errors_growth"]
    if growth >= limit:
        return Finding(
            AlertType.MODBUS_ERRORS,
            True,
            message=f"{growth} new Modbus errors since the last heartbeat ({errors} in total)",
            value=growth,
            threshold=limit,
        )
    if growth == 0 and beat.get("modbus_ok") is not False:
        return Finding(AlertType.MODBUS_ERRORS, False)
    return None


def _sd_backlog(previous, beat, at, limits, state):
    queued = beat.get("sd_queued")
    if queued is None:
        return None
    limit = limits["sd_backlog_records"]
    if queued < limit:
        return Finding(AlertType.SD_BACKLOG, False)
    if previous.sd_queued is not None and queued > previous.sd_queued:
        return Finding(
            AlertType.SD_BACKLOG,
            True,
            message=f"{queued} records wait on the SD card and the queue is growing",
            value=queued,
            threshold=limit,
        )
    return None


def _ota(previous, beat, at, limits, state):
    ota_state = beat.get("ota_state")
    if not ota_state:
        return None
    if ota_state == DeviceOtaState.ROLLED_BACK and previous.ota_state != DeviceOtaState.ROLLED_BACK:
        prev = beat.get("ota_previous_version") or "?"
        return Finding(
            AlertType.OTA_ROLLED_BACK,
            True,
            Severity.CRITICAL,
            f"firmware update failed on the device and was rolled back (running {beat.get('firmware_version')}, "
            f"prev {prev})",
            metadata={"prev": prev, "fw": beat.get("firmware_version")},
        )
    if ota_state == DeviceOtaState.VALID:
        return Finding(AlertType.OTA_ROLLED_BACK, False)
    return None
