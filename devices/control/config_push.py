"""Pushing configuration to a gateway and noticing when it has applied it.

Each push stores a new full version of the desired config (so drift and history are visible) and
sends only the changes as `set_config`, because the device keeps settings the console never saw
(e.g. WiFi entered in its captive portal). The device reports the hash of what it applied in every
heartbeat (`cfg`); a match with the desired hash marks that version applied.
"""

from django.db import transaction

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import device_target, record
from acuvim_console.protocol.commands import validate_command
from acuvim_console.protocol.config import (
    DEFAULT_CONFIG,
    REDACTED,
    config_hash,
    is_secret_key,
    merge_config,
    redact_secrets,
    validate_config,
)
from acuvim_console.protocol.enums import CommandName
from devices.control.commands import queue_command
from devices.models import Command, Device, DeviceConfig


def push_config(device: Device, changes: dict, *, user=None) -> tuple[DeviceConfig, Command]:
    """Store the next config version for `device` and send the changes to it.

    Raises acuvim_console.protocol.commands.CommandValidationError (per setting) for a bad partial config, and
    acuvim_console.protocol.config.InvalidConfig if the merged document would be incomplete.
    """
    validate_command(CommandName.SET_CONFIG, changes)
    with transaction.atomic():
        # Serialises pushes to one device so versions stay consecutive.
        Device.objects.select_for_update().filter(pk=device.pk).first()
        latest = device.configs.order_by("-version").first()
        document = merge_config(latest.document if latest else DEFAULT_CONFIG, changes)
        validate_config(document)
        desired_hash = config_hash(document)
        version = DeviceConfig.objects.create(
            device=device,
            version=(latest.version + 1) if latest else 1,
            document=document,
            config_hash=desired_hash,
            created_by=user,
        )
        Device.objects.filter(pk=device.pk).update(desired_config_hash=desired_hash)
        device.desired_config_hash = desired_hash
        command = queue_command(device, CommandName.SET_CONFIG, _without_redacted(changes), user=user)
        record(
            AuditAction.CONFIG_PUSHED,
            device_target(device),
            user=user,
            detail={"version": version.version, "changes": redact_secrets(changes), "request_id": command.request_id},
        )
    return version, command


def _without_redacted(changes: dict) -> dict:
    """Drop secrets sent back as '***' (meaning "keep it"): the device must not store the mask."""
    return {
        section: (
            {key: value for key, value in values.items() if not (is_secret_key(key) and value == REDACTED)}
            if isinstance(values, dict)
            else values
        )
        for section, values in changes.items()
    }
