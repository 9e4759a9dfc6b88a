"""The audit log: who did what to which thing, when and from which address.

Rows are evidence, so they are append-only: the model refuses updates and deletes, and on PostgreSQL a
trigger (migration 0002) refuses them in SQL too, whatever code or shell tries. Each row names its
actor by username, not by a foreign key, so deleting a user neither deletes nor rewrites their history.
"""

from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    COMMAND_SENT = "command.sent", "Command sent"
    GROUP_COMMAND_SENT = "command.group_sent", "Group command sent"
    CONFIG_PUSHED = "config.pushed", "Configuration pushed"
    FIRMWARE_UPLOADED = "firmware.uploaded", "Firmware uploaded"
    FIRMWARE_DEPLOYED = "firmware.deployed", "Firmware deployed"
    ROLLOUT_PAUSED = "rollout.paused", "Rollout paused"
    ROLLOUT_RESUMED = "rollout.resumed", "Rollout resumed"
    ROLLOUT_CANCELLED = "rollout.cancelled", "Rollout cancelled"
    ROLLOUT_RETRIED = "rollout.retried", "Rollout failures retried"
    DEVICE_PROVISIONED = "device.provisioned", "Device provisioned"
    DEVICE_APPROVED = "device.approved", "Device approved"
    DEVICE_DECOMMISSIONED = "device.decommissioned", "Device decommissioned"
    DEVICE_TOKEN_ISSUED = "device.token_issued", "Device token issued"
    MQTT_CREDENTIALS_ISSUED = "device.mqtt_credentials_issued", "Device MQTT credentials issued"
    USER_CREATED = "user.created", "User created"
    USER_CHANGED = "user.changed", "User changed"
    USER_PASSWORD_CHANGED = "user.password_changed", "User password changed"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    USER_ROLE_CHANGED = "user.role_changed", "User roles changed"
    USER_DELETED = "user.deleted", "User deleted"
    ROLE_PERMISSIONS_CHANGED = "role.permissions_changed", "Role permissions changed"


class AppendOnly(Exception):
    """Somebody tried to change or delete an audit record."""


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("audit records cannot be changed")

    def delete(self):
        raise AppendOnly("audit records cannot be deleted")


class AuditLog(models.Model):
    ts = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(
        max_length=150, blank=True, db_index=True, help_text="Username; empty for manage.py and the console itself."
    )
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    target = models.CharField(max_length=200, db_index=True, help_text="What was acted on, e.g. device ACV-...")
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="Client address of the request, if any.")
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-ts", "-pk"]
        verbose_name = "audit record"

    def __str__(self):
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.actor or '-'} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("audit records cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("audit records cannot be deleted")
