"""Alerts raised by devices (over MQTT) or by the console (health anomalies, offline devices)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertType(models.TextChoices):
    # Raised by the gateway itself (shared/protocol.md).
    OVERVOLTAGE = "overvoltage"
    UNDERVOLTAGE = "undervoltage"
    OVERCURRENT = "overcurrent"
    PHASE_LOSS = "phase_loss"
    FREQUENCY_DEVIATION = "frequency_deviation"
    LOW_POWER_FACTOR = "low_power_factor"
    MODBUS_LOSS = "modbus_loss"
    LOW_HEAP = "low_heap"
    SD_FULL = "sd_full"
    SD_FAIL = "sd_fail"
    GSM_FAIL = "gsm_fail"
    BROWNOUT = "brownout"
    CRASH_LOOP = "crash_loop"
    OTA_FAILED = "ota_failed"
    # Raised by the console from heartbeats and the health sweep.
    DEVICE_OFFLINE = "device_offline"
    UNEXPECTED_RESET = "unexpected_reset"
    HEAP_FALLING = "heap_falling"
    MODBUS_ERRORS = "modbus_errors"
    SD_BACKLOG = "sd_backlog"
    OTA_ROLLED_BACK = "ota_rolled_back"


class AlertSource(models.TextChoices):
    DEVICE = "device", "Device"
    CONSOLE = "console", "Console"


class Alert(models.Model):
    """At most one open (unresolved) alert per device and type; repeats bump `occurrences`."""

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="alerts")
    alert_type = models.CharField(max_length=32, choices=AlertType.choices)
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    source = models.CharField(max_length=8, choices=AlertSource.choices, default=AlertSource.DEVICE)
    message = models.TextField()
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "alert_type"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_open_per_device_type",
            )
        ]
        indexes = [
            models.Index(fields=["device", "-created_at"], name="alert_device_idx"),
            models.Index(fields=["device"], name="alert_unresolved_idx", condition=Q(resolved_at__isnull=True)),
        ]
        permissions = [("acknowledge_alert", "Can acknowledge and resolve alerts")]

    def __str__(self):
        return f"{self.device_id} {self.alert_type} ({self.severity})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
