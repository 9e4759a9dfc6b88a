"""The fleet: gateways, their desired configuration, the commands sent to them and their status history."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from acuvim_console.protocol.config import redact_secrets
from acuvim_console.protocol.enums import CommandName, ConnectionType, DeviceOtaState, ResetReason
from acuvim_console.protocol.identity import validate_device_id
from devices.choices import CommandStatus, DeviceStatus


class Device(models.Model):
    """One ESP32 gateway, identified by `ACV-` + its MAC, with what it last reported about itself."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    device_id = models.CharField(max_length=32, unique=True, validators=[validate_device_id])
    name = models.CharField(max_length=128, blank=True)
    description = models.TextField(blank=True)
    group = models.ForeignKey(
        "groups.DeviceGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    tags = models.JSONField(default=list, blank=True)

    # Inventory, as reported at registration.
    mac_address = models.CharField(max_length=17, blank=True)
    imei = models.CharField(max_length=15, blank=True)
    iccid = models.CharField(max_length=22, blank=True)
    hardware = models.CharField(max_length=64, blank=True)
    firmware_version = models.CharField(max_length=32, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    meter = models.JSONField(default=dict, blank=True)

    # Lifecycle.
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.PENDING)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    preprovisioned = models.BooleanField(
        default=False, help_text="Created by a field engineer before its first boot; accepted on registration."
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)

    # Health, as reported by heartbeats.
    heartbeat_interval = models.PositiveIntegerField(default=60, help_text="Seconds between heartbeats.")
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    # Device-clock times of the newest heartbeat and presence message applied (devices.registry.freshness).
    heartbeat_device_ts = models.DateTimeField(null=True, blank=True, editable=False)
    presence_device_ts = models.DateTimeField(null=True, blank=True, editable=False)
    last_telemetry = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    connection_type = models.CharField(max_length=8, choices=ConnectionType.choices, blank=True)
    signal_strength = models.IntegerField(null=True, blank=True, help_text="RSSI in dBm.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    boot_count = models.PositiveIntegerField(default=0)
    reset_reason = models.CharField(max_length=16, choices=ResetReason.choices, blank=True)
    uptime_s = models.PositiveBigIntegerField(null=True, blank=True)
    heap_free = models.PositiveIntegerField(null=True, blank=True)
    heap_min = models.PositiveIntegerField(null=True, blank=True)
    sd_ok = models.BooleanField(null=True, blank=True)
    sd_queued = models.PositiveIntegerField(null=True, blank=True)
    # Kept here rather than derived from history: the health rule pass filters the fleet on it in SQL.
    sd_queue_growth = models.IntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Records the SD queue grew by at the last heartbeat (negative: drained); empty when that "
        "heartbeat, or every one before it, did not report the queue.",
    )
    sd_free_kb = models.PositiveBigIntegerField(null=True, blank=True)
    modbus_ok = models.BooleanField(null=True, blank=True)
    modbus_errors = models.PositiveIntegerField(null=True, blank=True)
    gsm_ok = models.BooleanField(null=True, blank=True)
    mqtt_reconnects = models.PositiveIntegerField(null=True, blank=True)
    ota_state = models.CharField(max_length=16, choices=DeviceOtaState.choices, blank=True)
    ota_previous_version = models.CharField(max_length=32, blank=True)
    # Memory of the heartbeat anomaly rules between heartbeats (devices.health.anomalies).
    heap_decline_streak = models.PositiveSmallIntegerField(default=0, editable=False)
    heap_decline_start = models.PositiveIntegerField(null=True, blank=True, editable=False)
    boot_window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    boot_window_start_count = models.PositiveIntegerField(null=True, blank=True, editable=False)

    # Configuration drift: SHA-256 of the canonical JSON of the desired and of the applied config.
    desired_config_hash = models.CharField(max_length=64, blank=True)
    applied_config_hash = models.CharField(max_length=64, blank=True)

    # HTTP credential for the firmware endpoints; only its SHA-256 is kept.
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    token_issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # SHA-256 of the device's MQTT password (random, so no slow hash is needed): the broker checks the
    # password; the console keeps only proof of which one it issued last (acuvim_console.core.broker_accounts).
    mqtt_password_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["device_id"]
        indexes = [
            models.Index(fields=["status"], name="device_status_idx"),
            models.Index(fields=["group", "status"], name="device_group_status_idx"),
            models.Index(fields=["firmware_version"], name="device_firmware_idx"),
            models.Index(fields=["last_heartbeat"], name="device_last_heartbeat_idx"),
        ]
        permissions = [
            ("send_command", "Can send commands to devices"),
            ("push_config", "Can push configuration to devices"),
            ("approve_device", "Can approve or decommission devices"),
            ("manage_token", "Can issue or rotate device tokens"),
        ]

    def __str__(self):
        return f"{self.device_id} ({self.name})" if self.name else self.device_id

    @property
    def config_drift(self) -> bool:
        return bool(self.desired_config_hash) and self.desired_config_hash != self.applied_config_hash


class DeviceStatusChange(models.Model):
    """Every status transition, so operators can read a device's history of outages."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=DeviceStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=DeviceStatus.choices)
    reason = models.CharField(max_length=128, blank=True)
    changed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-changed_at"]
        indexes = [models.Index(fields=["device", "-changed_at"], name="status_change_device_idx")]

    def __str__(self):
        return f"{self.device_id}: {self.from_status or '-'} -> {self.to_status}"


class DeviceConfig(models.Model):
    """A version of a device's desired configuration. Secrets live in `document` and never leave it unredacted."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="configs")
    version = models.PositiveIntegerField()
    document = models.JSONField(help_text="Full config document, secrets included. Read it only through redacted().")
    config_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["device", "-version"]
        constraints = [models.UniqueConstraint(fields=["device", "version"], name="device_config_version_unique")]

    def __str__(self):
        return f"{self.device_id} config v{self.version}"

    def redacted(self) -> dict:
        return redact_secrets(self.document)


class CommandBatch(models.Model):
    """One operator request fanned out to many devices (a group command), tracked as a whole."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    command = models.CharField(max_length=32, choices=CommandName.choices)
    params = models.JSONField(default=dict, blank=True)
    group = models.ForeignKey("groups.DeviceGroup", null=True, blank=True, on_delete=models.SET_NULL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "command batches"

    def __str__(self):
        return f"{self.command} x{self.commands.count()}"


class Command(models.Model):
    """A command to one device and everything it answered."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands")
    request_id = models.CharField(max_length=64, unique=True)
    command = models.CharField(max_length=32, choices=CommandName.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=CommandStatus.choices, default=CommandStatus.PENDING)
    response = models.JSONField(null=True, blank=True, help_text="The device's final answer.")
    progress = models.JSONField(null=True, blank=True, help_text="The device's last progress report.")
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    batch = models.ForeignKey(CommandBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="commands")
    timeout_s = models.PositiveIntegerField(default=60)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["device", "-created_at"], name="command_device_idx"),
            models.Index(
                fields=["status"],
                name="command_open_idx",
                condition=Q(status__in=["pending", "sent", "ack"]),
            ),
        ]

    def __str__(self):
        return f"{self.command} -> {self.device_id} [{self.status}]"


class RejectedMessage(models.Model):
    """Why a gateway's messages are refused: one row per device, topic kind and reason, with a count.

    The bridge sums rejections in memory and writes them here every few seconds (acuvim_console.bridge.
    dead_letters), so a flood of bad messages costs one upsert per key, not a row per message. Bounded:
    at most DEAD_LETTER_MAX_ROWS rows, none older than DEAD_LETTER_KEEP_DAYS. `device_id` is empty when
    the topic named no valid device.
    """

    device_id = models.CharField(max_length=32, blank=True, db_index=True)
    kind = models.CharField(max_length=16, blank=True, help_text="Topic kind: telemetry, heartbeat, ...")
    reason = models.CharField(max_length=32, help_text="Reject reason code (docs/mqtt-protocol.md).")
    count = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    topic = models.CharField(max_length=200, help_text="Topic of the latest such message.")
    detail = models.CharField(max_length=500, help_text="What exactly was wrong with the latest one.")
    sample = models.TextField(blank=True, help_text="Its first bytes, with unprintable ones escaped.")

    class Meta:
        verbose_name = "rejected message"
        ordering = ["-last_seen"]
        constraints = [
            models.UniqueConstraint(fields=["device_id", "kind", "reason"], name="rejected_message_key_unique")
        ]

    def __str__(self):
        return f"{self.device_id or '-'}: {self.kind or 'message'} rejected: {self.detail}"
