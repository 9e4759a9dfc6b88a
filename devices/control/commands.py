"""The command service: validate, queue, publish to `acuvim/{id}/cmd` and follow the device's answers.

A command's life (docs/mqtt-protocol.md): `pending` when created, `sent` once the broker accepted it,
`ack` on the first ack or progress, then `success` or `error` from the device, or `timeout`/`expired`
from the periodic sweep. Every transition is a conditional UPDATE on the open statuses, so a late
answer, a second bridge or a sweep running at the same moment can never move a finished command.
Publishing twice is harmless by design: the device answers a repeated `req` with its earlier result.
"""

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import device_target, record
from acuvim_console.core.bulk_updates import seconds_before, update_returning
from acuvim_console.core.events import COMMAND_COMPLETED, COMMAND_UPDATED, publish_event
from acuvim_console.core.metrics import COMMAND_PROBLEMS, Children
from acuvim_console.core.mqtt_publisher import PublishError, publish
from acuvim_console.protocol.commands import (
    FIRMWARE_DEPLOY_ONLY,
    FIRMWARE_DEPLOY_ONLY_REASON,
    CommandValidationError,
    command_message,
    command_timeout,
    validate_command,
)
from acuvim_console.protocol.config import redact_secrets
from acuvim_console.protocol.enums import CommandName, ResponseStatus
from acuvim_console.protocol.topics import command_topic
from devices.choices import (
    FINAL_COMMAND_STATUSES,
    OPEN_COMMAND_STATUSES,
    UNACCEPTED_STATUSES,
    CommandStatus,
    DeviceStatus,
)
from devices.control.config_state import record_applied_config
from devices.control.redaction import DeviceRedactor
from devices.models import Command, CommandBatch, Device

log = logging.getLogger(__name__)

# Devices that are expected to receive a command now; offline ones get theirs when they come back.
REACHABLE_STATUSES = (DeviceStatus.ONLINE, DeviceStatus.DEGRADED)
# A pending command to a reachable device older than this lost its publish (broker down): retry it.
REDELIVER_AFTER = timedelta(seconds=10)


class _PublishPause:
    """After a failed publish, stop trying until the sweep retries, so that a group command (or every
    request) does not wait out the publish timeout once per device while the broker is down."""

    def __init__(self):
        self.until = 0.0

    def active(self) -> bool:
        return time.monotonic() < self.until

    def start(self) -> None:
        self.until = time.monotonic() + REDELIVER_AFTER.total_seconds()

    def lift(self) -> None:
        self.until = 0.0


publish_pause = _PublishPause()

# What went wrong, by reason (dropped answers, failed publishes): acuvim_command_problems_total{reason}.
_problems = Children(
    COMMAND_PROBLEMS, ("publish_skipped", "publish_failed", "response_unknown_request", "response_foreign_request")
)


def refuse_firmware_deploy_only(command) -> None:
    if command in FIRMWARE_DEPLOY_ONLY:
        raise CommandValidationError({"command": FIRMWARE_DEPLOY_ONLY_REASON})


def send_command(
    device: Device,
    command: str,
    params: dict | None = None,
    *,
    user=None,
    timeout_s: int | None = None,
) -> Command:
    """An operator's command to one device (admin, API, manage.py): checked, queued and audited.

    Raises acuvim_console.protocol.commands.CommandValidationError before anything is stored: for bad params, for
    a command only firmware deploys send, and for a device that is not accepted.
    """
    refuse_firmware_deploy_only(command)
    queued = queue_command(device, command, params, user=user, timeout_s=timeout_s)
    record(
        AuditAction.COMMAND_SENT,
        device_target(device),
        user=user,
        detail={"command": command, "request_id": queued.request_id, "params": redact_secrets(queued.params)},
    )
    return queued


def queue_command(
    device: Device,
    command: str,
    params: dict | None = None,
    *,
    user=None,
    timeout_s: int | None = None,
    batch: CommandBatch | None = None,
    expires_s: int | None = None,
) -> Command:
    """Queue a command; it is published once the caller's transaction commits if the device is reachable.

    For services that audit their own action (group commands, config push, rollouts); operators'
    commands go through send_command. Raises CommandValidationError like it.
    """
    params = validate_command(command, params)
    if device.status in UNACCEPTED_STATUSES:
        raise CommandValidationError(
            {"device": f"{device.device_id} is {device.status}: only approved devices receive commands"}
        )
    now = timezone.now()
    queued = Command.objects.create(
        device=device,
        request_id=uuid.uuid4().hex,
        command=command,
        params=params,
        status=CommandStatus.PENDING,
        timeout_s=timeout_s or command_timeout(command),
        expires_at=now + timedelta(seconds=expires_s or settings.COMMAND_EXPIRY_SECONDS),
        created_by=user,
        batch=batch,
    )
    if device.status in REACHABLE_STATUSES:
        transaction.on_commit(lambda: publish_command(queued, device.device_id))
    return queued


def send_group_command(group, command: str, params: dict | None = None, *, user=None) -> CommandBatch:
    """One command per accepted device of `group`, tracked together; offline members get theirs later."""
    refuse_firmware_deploy_only(command)
    params = validate_command(command, params)
    with transaction.atomic():
        batch = CommandBatch.objects.create(command=command, params=params, group=group, created_by=user)
        devices = list(group.devices.exclude(status__in=UNACCEPTED_STATUSES))
        for device in devices:
            queue_command(device, command, params, user=user, batch=batch)
        record(
            AuditAction.GROUP_COMMAND_SENT,
            f"group {group.name}",
            user=user,
            detail={
                "command": command,
                "batch_id": str(batch.pk),
                "devices": len(devices),
                "params": redact_secrets(params),
            },
        )
    return batch


def batch_summary(batch: CommandBatch) -> dict:
    """How many of a batch's commands are in each status, plus `total`, `open` and `finished`."""
    counts = dict(batch.commands.order_by().values_list("status").annotate(n=Count("pk")))
    summary = {status: counts.get(status, 0) for status in CommandStatus.values}
    summary["total"] = sum(counts.values())
    summary["open"] = sum(summary[status] for status in OPEN_COMMAND_STATUSES)
    summary["finished"] = sum(summary[status] for status in FINAL_COMMAND_STATUSES)
    return summary


def publish_command(command: Command, device_id: str) -> bool:
    """Publish one pending command to its device; True when the broker took it.

    An expired command is marked `expired` instead. A broker that cannot be reached leaves the
    command pending for the periodic sweep (or the device's next return online) to retry.
    """
    now = timezone.now()
    if command.expires_at <= now:
        _finish_expired(Command.objects.filter(pk=command.pk), now)
        return False
    if publish_pause.active():
        _problems["publish_skipped"].inc()
        return False
    message = command_message(command.request_id, command.command, command.params, now, command.expires_at)
    try:
        publish(command_topic(device_id), message, qos=1, timeout=settings.COMMAND_PUBLISH_TIMEOUT_SECONDS)
    except PublishError as exc:
        _problems["publish_failed"].inc()
        publish_pause.start()
        log.warning(
            "%s: command %s (%s) not published, will retry: %s", device_id, command.command, command.request_id, exc
        )
        return False
    # An ack may already have overtaken us: keep its status, record when the command went out.
    Command.objects.filter(pk=command.pk, status__in=OPEN_COMMAND_STATUSES).update(
        status=Case(When(status=CommandStatus.PENDING, then=Value(CommandStatus.SENT)), default=F("status")),
        sent_at=Coalesce(F("sent_at"), Value(now)),
    )
    command.refresh_from_db(fields=["status", "sent_at"])
    log.info("%s: command %s sent (%s)", device_id, command.command, command.request_id)
    _announce(COMMAND_UPDATED, command, device_id)
    return True


def deliver_pending(device: Device) -> int:
    """Publish the commands queued while `device` was away, oldest first; return how many went out.

    Called (after commit) whenever a device comes back online. Commands past their `exp` are
    expired, never sent.
    """
    now = timezone.now()
    _finish_expired(Command.objects.filter(device=device, status=CommandStatus.PENDING, expires_at__lte=now), now)
    delivered = 0
    for command in device.commands.filter(status=CommandStatus.PENDING).order_by("created_at"):
        delivered += publish_command(command, device.device_id)
    return delivered


def handle_response(device: Device, payload: dict, received_at) -> Command | None:
    """Apply one parsed answer from `acuvim/{id}/resp` (acuvim_console.protocol.payloads.parse_response).

    Answers for an unknown request, another device's request or a command that already finished are
    logged, counted and dropped.
    """
    request_id = payload["req"]
    command = Command.objects.filter(request_id=request_id).first()
    if command is None or command.device_id != device.pk:
        reason = "unknown_request" if command is None else "foreign_request"
        return _ignore(device, payload, reason)
    status = payload["status"]
    redact = DeviceRedactor(device)  # nothing the device sends is stored unredacted (devices.control.redaction)
    if status in (ResponseStatus.ACK, ResponseStatus.PROGRESS):
        changes = {
            "status": CommandStatus.ACK,
            "acked_at": Coalesce(F("acked_at"), Value(received_at)),
        }
        if status == ResponseStatus.PROGRESS:
            changes["progress"] = redact({key: payload.get(key) for key in ("stage", "progress")}) | {
                "at": received_at.isoformat()
            }
        event = COMMAND_UPDATED
    elif status == ResponseStatus.SUCCESS:
        changes = {
            "status": CommandStatus.SUCCESS,
            "response": redact(payload.get("data")),
            "completed_at": received_at,
        }
        event = COMMAND_COMPLETED
    else:
        changes = {
            "status": CommandStatus.ERROR,
            "error_code": redact((payload.get("code") or "error")[:32]),
            "error_message": redact(payload.get("msg") or ""),
            "completed_at": received_at,
        }
        event = COMMAND_COMPLETED
    if not Command.objects.filter(pk=command.pk, status__in=OPEN_COMMAND_STATUSES).update(**changes):
        return _ignore(device, payload, f"already_{command.status}")
    command.refresh_from_db()
    if command.command == CommandName.SET_CONFIG and command.status == CommandStatus.SUCCESS:
        record_applied_config(device, (command.response or {}).get("cfg"), received_at)
    _announce(event, command, device.device_id)
    return command


def expire_and_timeout(now=None) -> dict:
    """The periodic command sweep: expire undeliverable commands, time out unanswered ones, retry lost publishes."""
    now = now or timezone.now()
    expired = _finish_expired(Command.objects.filter(status=CommandStatus.PENDING, expires_at__lte=now), now)
    timed_out = update_returning(
        Command.objects.filter(
            status__in=(CommandStatus.SENT, CommandStatus.ACK), sent_at__lt=seconds_before(now, "timeout_s")
        ),
        {"status": CommandStatus.TIMEOUT, "completed_at": now},
        ("id",),
    )
    _announce_all(COMMAND_COMPLETED, [row["id"] for row in timed_out])
    stale = (
        Command.objects.filter(
            status=CommandStatus.PENDING,
            created_at__lt=now - REDELIVER_AFTER,
            device__status__in=REACHABLE_STATUSES,
        )
        .select_related("device")
        .order_by("created_at")
    )
    publish_pause.lift()  # this sweep is the retry: try once, and stop at the first failure
    redelivered = 0
    for command in stale:
        if publish_command(command, command.device.device_id):
            redelivered += 1
        elif publish_pause.active():
            break
    if expired or timed_out or redelivered:
        log.info("command sweep: %d expired, %d timed out, %d redelivered", expired, len(timed_out), redelivered)
    return {"expired": expired, "timed_out": len(timed_out), "redelivered": redelivered}


def _finish_expired(queryset, now) -> int:
    rows = update_returning(
        queryset.filter(status=CommandStatus.PENDING),
        {"status": CommandStatus.EXPIRED, "completed_at": now},
        ("id",),
    )
    _announce_all(COMMAND_COMPLETED, [row["id"] for row in rows])
    return len(rows)


def _ignore(device: Device, payload: dict, reason: str) -> None:
    _problems[f"response_{reason}"].inc()
    log.warning(
        "%s: response %s for request %s ignored: %s",
        device.device_id,
        payload.get("status"),
        payload.get("req"),
        reason,
    )
    return None


def command_event_data(command: Command, device_id: str) -> dict:
    """What live views get about a command: enough to update a row without another query.

    Params and answers pass through redact_secrets: a set_config carries WiFi/MQTT passwords and a
    get_config answer returns them, and events reach every browser watching the fleet.
    """
    return {
        "device_id": device_id,
        "command_id": str(command.pk),
        "request_id": command.request_id,
        "command": command.command,
        "params": redact_secrets(command.params),
        "status": command.status,
        "progress": command.progress,
        "response": redact_secrets(command.response),
        "error_code": command.error_code,
        "error_message": command.error_message,
        "batch_id": str(command.batch_id) if command.batch_id else None,
        "completed_at": command.completed_at.isoformat() if command.completed_at else None,
    }


def _announce(event: str, command: Command, device_id: str) -> None:
    publish_event(event, command_event_data(command, device_id), device_id=device_id)


def _announce_all(event: str, command_ids: list) -> None:
    for command in Command.objects.filter(pk__in=command_ids).select_related("device"):
        _announce(event, command, command.device.device_id)
