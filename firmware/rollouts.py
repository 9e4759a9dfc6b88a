"""Rollouts: deploying one firmware version to many gateways in waves, without bricking the fleet.

A rollout sends `ota_update` to one wave at a time. The next wave starts once enough of the current one
succeeded (`success_ratio`); the rollout pauses itself when failures pass a threshold or a wave ends
short, and waits for an operator to resume (accepting the shortfall), retry the failed devices or cancel.

`advance_rollouts` is the heartbeat of it all: a periodic job that reads what devices and their commands
reported and moves every rollout on. It only ever changes rows with conditional updates under a
`SELECT ... FOR UPDATE SKIP LOCKED` on the rollout, so several workers can run it at once.
"""

import logging
import math
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import record
from acuvim_console.core.events import ROLLOUT_PROGRESS, publish_event
from acuvim_console.protocol.commands import CommandValidationError
from acuvim_console.protocol.enums import CommandName
from devices.choices import CommandStatus, DeviceStatus
from devices.control.commands import queue_command
from devices.models import Command, Device
from firmware import conf
from firmware.download_links import signed_download_url
from firmware.models import FirmwareVersion, OtaState, Rollout, RolloutDevice, RolloutStatus
from firmware.ota_tracking import FAILED_STATES, IN_FLIGHT_STATES, OPEN_STATES, observe
from firmware.planning import ACTIVE_STATUSES, plan

log = logging.getLogger(__name__)

MAX_SKIPPED_KEPT = 500  # skipped devices remembered on the rollout, for its page
MAX_DEVICES_PER_EVENT = 200


class RolloutError(ValueError):
    """A rollout cannot be created or an action is not possible in its current state."""


# --- Creation ------------------------------------------------------------------------------------


def create_rollout(
    firmware: FirmwareVersion,
    devices,
    *,
    user,
    wave_size: int | None = None,
    wave_percent: int | None = None,
    success_ratio: float = 0.9,
    max_failures: int | None = None,
    max_failure_percent: int | None = None,
    allow_downgrade: bool = False,
    start_at: datetime | None = None,
    name: str = "",
    target: dict | None = None,
    now: datetime | None = None,
) -> Rollout:
    """Create the rollout for the eligible devices and, unless it starts later, send its first wave."""
    _check_options(wave_size, wave_percent, success_ratio, max_failures, max_failure_percent)
    now = now or timezone.now()
    with transaction.atomic():
        locked = list(Device.objects.select_for_update().filter(pk__in=[d.pk for d in devices]).order_by("pk"))
        eligible, skipped = plan(firmware, locked, allow_downgrade)
        if not eligible:
            reasons = "; ".join(f"{d.device_id}: {r}" for d, r in skipped[:5])
            raise RolloutError(f"None of the {len(locked)} devices can receive {firmware.version}. {reasons}")
        size = wave_size or (math.ceil(len(eligible) * wave_percent / 100) if wave_percent else len(eligible))
        eligible.sort(key=lambda d: (d.status not in (DeviceStatus.ONLINE, DeviceStatus.DEGRADED), d.device_id))
        rollout = Rollout.objects.create(
            firmware=firmware,
            name=name,
            target={
                **(target or {}),
                "skipped": [{"device_id": d.device_id, "reason": r} for d, r in skipped[:MAX_SKIPPED_KEPT]],
                "skipped_count": len(skipped),
            },
            wave_size=wave_size,
            wave_percent=wave_percent,
            wave_count=math.ceil(len(eligible) / size),
            success_ratio=success_ratio,
            max_failures=max_failures,
            max_failure_percent=max_failure_percent,
            allow_downgrade=allow_downgrade,
            start_at=start_at,
            created_by=user if getattr(user, "pk", None) else None,
        )
        RolloutDevice.objects.bulk_create(
            RolloutDevice(rollout=rollout, device=device, wave=index // size + 1, from_version=device.firmware_version)
            for index, device in enumerate(eligible)
        )
        log.info(
            "rollout %s of %s created by %s: %d devices in %d waves, %d skipped",
            rollout.pk,
            firmware.version,
            user,
            len(eligible),
            rollout.wave_count,
            len(skipped),
        )
        record(
            AuditAction.FIRMWARE_DEPLOYED,
            rollout_target(rollout),
            user=user,
            detail={
                "version": firmware.version,
                "devices": len(eligible),
                "skipped": len(skipped),
                "waves": rollout.wave_count,
                "target": target or {},
            },
        )
        _advance(rollout, now)
    return rollout


def rollout_target(rollout: Rollout) -> str:
    return f"rollout {rollout.pk} ({rollout.firmware.version})"


def _check_options(wave_size, wave_percent, success_ratio, max_failures, max_failure_percent) -> None:
    if wave_size is not None and wave_percent is not None:
        raise RolloutError("Give a wave size or a wave percentage, not both.")
    if wave_size is not None and wave_size < 1:
        raise RolloutError("The wave size must be at least 1.")
    if wave_percent is not None and not 1 <= wave_percent <= 100:
        raise RolloutError("The wave percentage must be between 1 and 100.")
    if not 0 < success_ratio <= 1:
        raise RolloutError("The success ratio must be above 0 and at most 1.")
    if max_failures is not None and max_failures < 1:
        raise RolloutError("The failure limit must be at least 1.")
    if max_failure_percent is not None and not 1 <= max_failure_percent <= 100:
        raise RolloutError("The failure percentage must be between 1 and 100.")


# --- Progression ---------------------------------------------------------------------------------


def advance_rollouts(now: datetime | None = None) -> dict:
    """Move every unfinished rollout on; rollouts another worker is advancing right now are skipped."""
    now = now or timezone.now()
    candidates = (
        Rollout.objects.filter(
            Q(status__in=ACTIVE_STATUSES) | Q(status=RolloutStatus.CANCELLED, devices__state__in=IN_FLIGHT_STATES)
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    summary = {"advanced": 0, "busy": 0}
    for pk in list(candidates):
        summary["advanced" if advance_rollout(pk, now) else "busy"] += 1
    return summary


def advance_rollout(pk, now: datetime | None = None) -> bool:
    """Advance one rollout; False when another process holds it."""
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update(skip_locked=True).select_related("firmware").filter(pk=pk).first()
        if rollout is None:
            return False
        _advance(rollout, now or timezone.now())
    return True


def _advance(rollout: Rollout, now: datetime) -> None:
    changed = []
    status_before = (rollout.status, rollout.current_wave)
    if rollout.status == RolloutStatus.SCHEDULED and (rollout.start_at is None or rollout.start_at <= now):
        _set_status(rollout, RolloutStatus.RUNNING, started_at=now, current_wave=1)
    changed += _sync_in_flight(rollout, now)
    if rollout.status == RolloutStatus.RUNNING:
        reason = _failure_threshold_passed(rollout)
        if reason:
            _pause(rollout, reason)
        else:
            changed += _run_waves(rollout, now)
    if changed or status_before != (rollout.status, rollout.current_wave):
        _announce(rollout, changed)


def _sync_in_flight(rollout: Rollout, now: datetime) -> list[RolloutDevice]:
    timeout_s = conf.ota_device_timeout_seconds()
    changed = []
    for entry in rollout.devices.filter(state__in=IN_FLIGHT_STATES).select_related("device", "command"):
        seen = observe(entry, rollout.firmware.version, now, timeout_s)
        if (seen.state, seen.progress, seen.reason) == (entry.state, entry.progress, entry.reason):
            continue
        fields = {"state": seen.state, "progress": seen.progress, "reason": seen.reason, "updated_at": now}
        if seen.is_final:
            fields["finished_at"] = now
        if _update_entry(entry, **fields):
            changed.append(entry)
            if seen.state in FAILED_STATES:
                log.warning("rollout %s: %s %s: %s", rollout.pk, entry.device.device_id, seen.state, seen.reason)
    return changed


def _run_waves(rollout: Rollout, now: datetime) -> list[RolloutDevice]:
    """Send the current wave, open the next ones whose gate is passed, complete or pause at the end."""
    changed = _send_queued(rollout, now)
    while rollout.status == RolloutStatus.RUNNING:
        wave = _wave_counts(rollout, rollout.current_wave)
        required = math.ceil(rollout.success_ratio * wave["size"] - 1e-9)
        passed = wave["succeeded"] >= required or (rollout.accepted_wave >= rollout.current_wave and not wave["open"])
        if not passed:
            if not wave["open"]:
                _pause(
                    rollout,
                    f"wave {rollout.current_wave} ended with {wave['succeeded']} of {wave['size']} devices "
                    f"updated; {required} needed",
                )
            break
        if rollout.current_wave < rollout.wave_count:
            _set_status(rollout, RolloutStatus.RUNNING, current_wave=rollout.current_wave + 1)
            changed += _send_queued(rollout, now)
            continue
        if not rollout.devices.filter(state__in=OPEN_STATES).exists():
            _set_status(rollout, RolloutStatus.COMPLETED, finished_at=now)
        break
    return changed


def _wave_counts(rollout: Rollout, wave: int) -> dict:
    return rollout.devices.filter(wave=wave).aggregate(
        size=Count("pk", filter=~Q(state=OtaState.CANCELLED)),
        succeeded=Count("pk", filter=Q(state=OtaState.SUCCEEDED)),
        open=Count("pk", filter=Q(state__in=OPEN_STATES)),
    )


def _send_queued(rollout: Rollout, now: datetime) -> list[RolloutDevice]:
    """Send `ota_update` to the queued devices of the waves opened so far, re-checking each one first."""
    queued = list(
        rollout.devices.filter(state=OtaState.QUEUED, wave__lte=rollout.current_wave).select_related("device")
    )
    if not queued:
        return []
    firmware = rollout.firmware
    _, skipped = plan(firmware, [e.device for e in queued], rollout.allow_downgrade, exclude_rollout=rollout)
    skip_reasons = {device.pk: reason for device, reason in skipped}
    changed = []
    for entry in queued:
        device = entry.device
        if device.pk in skip_reasons:
            if _update_entry(
                entry,
                state=OtaState.CANCELLED,
                reason=f"skipped: {skip_reasons[device.pk]}",
                finished_at=now,
                updated_at=now,
            ):
                changed.append(entry)
            continue
        try:
            command = queue_command(
                device,
                CommandName.OTA_UPDATE,
                ota_params(firmware, device, rollout.allow_downgrade),
                user=rollout.created_by,
                expires_s=conf.ota_device_timeout_seconds(),  # never start an OTA the rollout gave up on
            )
        except CommandValidationError as invalid:
            if _update_entry(
                entry,
                state=OtaState.FAILED,
                reason=f"not sent: {invalid.errors}"[:255],
                finished_at=now,
                updated_at=now,
            ):
                changed.append(entry)
            continue
        if _update_entry(
            entry,
            state=OtaState.SENT,
            command=command,
            progress=0,
            reason="",
            started_at=now,
            finished_at=None,
            from_version=device.firmware_version,
            updated_at=now,
        ):
            changed.append(entry)
    return changed


def ota_params(firmware: FirmwareVersion, device: Device, allow_downgrade: bool) -> dict:
    """The `ota_update` parameters of the protocol, with a link signed for this device.

    A gateway refuses an image older than the one it runs unless told `allow_downgrade` (our extension,
    docs/mqtt-protocol.md), which only a rollout created with "allow downgrade" sends.
    """
    params = {
        "url": signed_download_url(firmware.version, device.device_id),
        "version": firmware.version,
        "sha256": firmware.sha256,
        "size": firmware.file_size,
        "mandatory": firmware.mandatory,
    }
    if allow_downgrade:
        params["allow_downgrade"] = True
    return params


def _failure_threshold_passed(rollout: Rollout) -> str:
    """Why the rollout must pause for failures since it last (re)started, or "" if it may go on."""
    if rollout.max_failures is None and rollout.max_failure_percent is None:
        return ""
    counted = rollout.devices.exclude(state__in=(OtaState.QUEUED, OtaState.CANCELLED))
    if rollout.resumed_at:
        counted = counted.filter(Q(finished_at__gt=rollout.resumed_at) | Q(finished_at__isnull=True))
    totals = counted.aggregate(attempted=Count("pk"), failed=Count("pk", filter=Q(state__in=FAILED_STATES)))
    failed, attempted = totals["failed"], totals["attempted"]
    if rollout.max_failures is not None and failed >= rollout.max_failures:
        return f"{failed} devices failed; the limit is {rollout.max_failures}"
    percent = rollout.max_failure_percent
    if percent is not None and attempted and failed * 100 >= percent * attempted:
        return (
            f"{failed} of {attempted} devices failed ({failed * 100 // attempted}%); "
            f"the limit is {rollout.max_failure_percent}%"
        )
    return ""


# --- Operator actions ----------------------------------------------------------------------------


def pause_rollout(rollout: Rollout, *, user=None, reason: str = "") -> Rollout:
    with transaction.atomic():
        rollout = _lock(rollout)
        if rollout.status not in (RolloutStatus.SCHEDULED, RolloutStatus.RUNNING):
            raise RolloutError(f"A {rollout.status} rollout cannot be paused.")
        _pause(rollout, reason or f"paused by {user or 'an operator'}")
        record(AuditAction.ROLLOUT_PAUSED, rollout_target(rollout), user=user, detail={"reason": reason})
        _announce(rollout, [])
    return rollout


def resume_rollout(rollout: Rollout, *, user=None, now: datetime | None = None) -> Rollout:
    """Go on, accepting the failures so far and the shortfall of the current wave."""
    now = now or timezone.now()
    with transaction.atomic():
        rollout = _lock(rollout)
        if rollout.status != RolloutStatus.PAUSED:
            raise RolloutError(f"Only a paused rollout can be resumed; this one is {rollout.status}.")
        log.info("rollout %s resumed by %s after: %s", rollout.pk, user, rollout.pause_reason)
        started = rollout.started_at is not None
        _set_status(
            rollout,
            RolloutStatus.RUNNING if started else RolloutStatus.SCHEDULED,
            pause_reason="",
            resumed_at=now,
            accepted_wave=rollout.current_wave,
        )
        record(AuditAction.ROLLOUT_RESUMED, rollout_target(rollout), user=user)
        _advance(rollout, now)
    return rollout


def cancel_rollout(rollout: Rollout, *, user=None, now: datetime | None = None) -> Rollout:
    """Stop sending; devices already updating are still followed to their end, the rest are cancelled."""
    now = now or timezone.now()
    with transaction.atomic():
        rollout = _lock(rollout)
        if rollout.status not in ACTIVE_STATUSES:
            raise RolloutError(f"A {rollout.status} rollout cannot be cancelled.")
        reason = f"rollout cancelled by {user or 'an operator'}"
        undelivered = dict(
            rollout.devices.filter(state=OtaState.SENT, command__status=CommandStatus.PENDING).values_list(
                "pk", "command_id"
            )
        )
        Command.objects.filter(pk__in=undelivered.values(), status=CommandStatus.PENDING).update(
            status=CommandStatus.EXPIRED, error_message=reason, completed_at=now
        )
        rollout.devices.filter(Q(state=OtaState.QUEUED) | Q(pk__in=undelivered.keys())).update(
            state=OtaState.CANCELLED, reason=reason, finished_at=now, updated_at=now
        )
        _set_status(rollout, RolloutStatus.CANCELLED, finished_at=now, pause_reason="")
        record(AuditAction.ROLLOUT_CANCELLED, rollout_target(rollout), user=user)
        _announce(rollout, [])
    return rollout


def retry_failed(rollout: Rollout, *, user=None, now: datetime | None = None) -> int:
    """Queue the failed, rolled back and timed out devices again and let the rollout run; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        rollout = _lock(rollout)
        if rollout.status == RolloutStatus.CANCELLED:
            raise RolloutError("A cancelled rollout cannot be retried; deploy again instead.")
        count = rollout.devices.filter(state__in=FAILED_STATES).update(
            state=OtaState.QUEUED,
            progress=0,
            reason="",
            command=None,
            started_at=None,
            finished_at=None,
            updated_at=now,
        )
        if not count:
            raise RolloutError("No failed devices to retry.")
        log.info("rollout %s: %s retries %d devices", rollout.pk, user, count)
        record(AuditAction.ROLLOUT_RETRIED, rollout_target(rollout), user=user, detail={"devices": count})
        if rollout.status in (RolloutStatus.PAUSED, RolloutStatus.COMPLETED):
            _set_status(rollout, RolloutStatus.RUNNING, pause_reason="", resumed_at=now, finished_at=None)
        _advance(rollout, now)
    return count


# --- Helpers -------------------------------------------------------------------------------------


def _lock(rollout: Rollout) -> Rollout:
    return Rollout.objects.select_for_update().select_related("firmware").get(pk=rollout.pk)


def _set_status(rollout: Rollout, status: RolloutStatus, **fields) -> None:
    """Change status (and fields) of a rollout whose row this transaction holds locked."""
    fields["status"] = status
    Rollout.objects.filter(pk=rollout.pk).update(**fields)
    for name, value in fields.items():
        setattr(rollout, name, value)


def _pause(rollout: Rollout, reason: str) -> None:
    log.warning("rollout %s of %s paused: %s", rollout.pk, rollout.firmware.version, reason)
    _set_status(rollout, RolloutStatus.PAUSED, pause_reason=reason[:255])


def _update_entry(entry: RolloutDevice, **fields) -> bool:
    """Conditional on the state read: a concurrent cancel or retry wins over a stale observation."""
    updated = RolloutDevice.objects.filter(pk=entry.pk, state=entry.state).update(**fields)
    if updated:
        for name, value in fields.items():
            setattr(entry, name, value)
    return bool(updated)


def state_counts(rollout: Rollout) -> dict[str, int]:
    counts = dict.fromkeys(OtaState.values, 0)
    for row in rollout.devices.values("state").annotate(n=Count("pk")):
        counts[row["state"]] = row["n"]
    return counts


def progress_snapshot(rollout: Rollout, entries=()) -> dict:
    """What the live rollout page needs: status, waves, counts and the devices that changed."""
    return {
        "rollout_id": str(rollout.pk),
        "version": rollout.firmware.version,
        "status": rollout.status,
        "pause_reason": rollout.pause_reason,
        "current_wave": rollout.current_wave,
        "wave_count": rollout.wave_count,
        "counts": state_counts(rollout),
        "devices": [
            {
                "device_id": entry.device.device_id,
                "wave": entry.wave,
                "state": entry.state,
                "progress": entry.progress,
                "reason": entry.reason,
            }
            for entry in list(entries)[:MAX_DEVICES_PER_EVENT]
        ],
    }


def _announce(rollout: Rollout, changed: list[RolloutDevice]) -> None:
    publish_event(ROLLOUT_PROGRESS, progress_snapshot(rollout, changed))
