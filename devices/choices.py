"""The console's own states of a gateway and of a command (the wire's values are in acuvim_console.protocol.enums)."""

from django.db import models

from acuvim_console.protocol.enums import ResetReason


class DeviceStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    ONLINE = "online", "Online"
    DEGRADED = "degraded", "Degraded"
    OFFLINE = "offline", "Offline"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


# Devices in these states may not have their data stored (registration policy).
UNACCEPTED_STATUSES = (DeviceStatus.PENDING, DeviceStatus.DECOMMISSIONED)


class CommandStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    ACK = "ack", "Acknowledged"
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"
    TIMEOUT = "timeout", "Timed out"
    EXPIRED = "expired", "Expired"


OPEN_COMMAND_STATUSES = (CommandStatus.PENDING, CommandStatus.SENT, CommandStatus.ACK)
FINAL_COMMAND_STATUSES = (
    CommandStatus.SUCCESS,
    CommandStatus.ERROR,
    CommandStatus.TIMEOUT,
    CommandStatus.EXPIRED,
)

# Resets that mean the device crashed rather than being restarted on purpose.
CRASH_RESET_REASONS = (ResetReason.PANIC, ResetReason.WATCHDOG, ResetReason.BROWNOUT)
