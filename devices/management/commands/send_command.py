"""`manage.py send_command`: send one of the 20 commands from a shell, e.g. while commissioning a site.

manage.py send_command ACV-AABBCCDDEEFF ping --wait 30
manage.py send_command ACV-AABBCCDDEEFF modbus_read --params '{"addr":16384,"count":10}' --wait 30
manage.py send_command --group Plant-A get_status --wait 60
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from acuvim_console.core import json_limits
from acuvim_console.protocol.commands import CommandValidationError
from devices.choices import OPEN_COMMAND_STATUSES, CommandStatus
from devices.control.commands import batch_summary, send_command, send_group_command
from devices.models import Command as QueuedCommand
from devices.models import Device
from groups.models import DeviceGroup

POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = "Send a command to a device (or every device of a group) and optionally wait for the answer."

    def add_arguments(self, parser):
        parser.add_argument("target", nargs="+", metavar="ARG", help="DEVICE_ID COMMAND, or COMMAND with --group")
        parser.add_argument("--params", default=None, help="command parameters as a JSON object, e.g. '{\"lines\":50}'")
        parser.add_argument("--group", default=None, help="send to every accepted device of this group")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the result (0: do not wait)")

    def handle(self, target, params, group, wait, **options):
        params = _parse_params(params)
        if group:
            if len(target) != 1:
                raise CommandError("with --group give only the command, e.g. `send_command --group Plant-A ping`")
            return self._send_to_group(group, target[0], params, wait)
        if len(target) != 2:
            raise CommandError("give a device id and a command, e.g. `send_command ACV-AABBCCDDEEFF ping`")
        device_id, command = target
        device = Device.objects.filter(device_id=device_id.upper()).first()
        if device is None:
            raise CommandError(f"no device {device_id}")
        try:
            queued = send_command(device, command, params)
        except CommandValidationError as exc:
            raise CommandError(f"{device.device_id}: {exc}") from None
        self.stdout.write(
            f"{device.device_id}: {queued.command} queued as {queued.request_id} "
            f"({queued.status}, device {device.status})"
        )
        if wait > 0:
            self._wait_for_command(queued, wait)

    def _send_to_group(self, name, command, params, wait):
        group = DeviceGroup.objects.filter(name=name).first()
        if group is None:
            raise CommandError(f"no device group named {name!r}")
        try:
            batch = send_group_command(group, command, params)
        except CommandValidationError as exc:
            raise CommandError(f"{name}: {exc}") from None
        summary = batch_summary(batch)
        self.stdout.write(f"{name}: {command} queued for {summary['total']} devices (batch {batch.pk})")
        deadline = time.monotonic() + wait
        # Commands for offline members stay pending until they come back: wait only for those sent.
        while wait > 0 and summary[CommandStatus.SENT] + summary[CommandStatus.ACK] and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            summary = batch_summary(batch)
        self.stdout.write(json.dumps(summary))
        for queued in batch.commands.select_related("device").order_by("device__device_id"):
            self.stdout.write(f"  {queued.device.device_id}: {_outcome(queued)}")

    def _wait_for_command(self, queued: QueuedCommand, wait: float) -> None:
        deadline = time.monotonic() + wait
        while queued.status in OPEN_COMMAND_STATUSES and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            queued.refresh_from_db()
        if queued.status in OPEN_COMMAND_STATUSES:
            raise CommandError(f"no final answer within {wait:g} s (status {queued.status}); it may still arrive")
        self.stdout.write(_outcome(queued))
        if queued.status != CommandStatus.SUCCESS:
            raise CommandError(f"{queued.command} ended {queued.status}")


def _parse_params(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        params = json_limits.loads(text)
    except json_limits.JsonRefused as refused:
        raise CommandError(f"--params refused: {refused.message}") from None
    if not isinstance(params, dict):
        raise CommandError("--params must be a JSON object, e.g. '{\"lines\": 50}'")
    return params


def _outcome(command: QueuedCommand) -> str:
    if command.status == CommandStatus.SUCCESS:
        return f"success {json.dumps(command.response, cls=DjangoJSONEncoder)}"
    if command.status == CommandStatus.ERROR:
        return f"error {command.error_code}: {command.error_message}"
    return command.status
