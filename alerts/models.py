"""Alerts raised by devices (over MQTT), by the console (health anomalies, offline devices) or by rules.

Besides the alerts themselves this app keeps what decides and announces them: alert rules and their
per-device state, silences, notification channels, and the log of what was sent to whom.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from acuvim_console.protocol.enums import Severity
from acuvim_console.protocol.payloads import NUMERIC_TELEMETRY_FIELDS

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

# The alert_type of the alerts a rule opens: one type per rule, so the one-open-alert-per-device-and-type
# constraint also means one open alert per device and rule.
RULE_ALERT_PREFIX = "rule_"


class AlertType(models.TextChoices):
    # Raised by the gateway itself (docs/mqtt-protocol.md).
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
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    source = models.CharField(max_length=8, choices=AlertSource.choices, default=AlertSource.DEVICE)
    message = models.TextField()
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    rule = models.ForeignKey(
        "AlertRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
        help_text="The rule that opened this alert (none for device and health alerts).",
    )
    occurrences = models.PositiveIntegerField(default=1)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who resolved it by hand (none when the device, a rule or the health checks cleared it).",
    )

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


class HealthQuantity(models.TextChoices):
    """Device health a rule can watch beside telemetry: computed by the rule pass from the device's record."""

    OFFLINE_S = "offline_s", "seconds offline"
    HEAP_FREE = "heap_free", "free heap (bytes, last heartbeat)"
    SD_QUEUED = "sd_queued", "records queued on the SD card (last heartbeat)"
    SD_QUEUE_GROWTH = "sd_queue_growth", "records the SD queue grew by between the last two heartbeats"
    BOOTS_RECENT = "boots_recent", "boots within the reboot-loop window"
    OTA_ROLLED_BACK = "ota_rolled_back", "last OTA rolled back (1) or not (0)"
    GSM_BYTES_MONTH = "gsm_bytes_month", "GSM data this month (bytes, gsm_status)"


RULE_FIELDS = [
    *((name, name) for name in sorted(NUMERIC_TELEMETRY_FIELDS)),
    *HealthQuantity.choices,
]


class RuleOp(models.TextChoices):
    GT = ">", "above (>)"
    GE = ">=", "at or above (>=)"
    LT = "<", "below (<)"
    LE = "<=", "at or below (<=)"
    OUTSIDE = "outside", "outside the band"


class AlertRule(models.Model):
    """ "Tell me when v1 stays above 250 V for 10 s on Building A": a condition on one quantity of a device.

    The quantity is a telemetry field (evaluated on every live reading) or a HealthQuantity (evaluated by
    the periodic rule pass: "offline longer than 10 min" is offline_s >= 600).

    The alert opens once the value has breached `threshold` for `duration_s`, and resolves once it has
    stayed on the safe side of `clear_threshold` (hysteresis; the threshold itself when unset) for
    `clear_duration_s`. `outside` breaches below `threshold` or above `threshold_high`. With neither
    device nor group the rule watches the whole fleet. Evaluated by alerts.rules.
    """

    name = models.CharField(max_length=100)
    field = models.CharField(
        max_length=16,
        choices=RULE_FIELDS,
        help_text="Telemetry quantity by its protocol name (v1, i3, thd_v2, pft, f, pt, ...) or a health quantity.",
    )
    op = models.CharField(max_length=8, choices=RuleOp.choices)
    threshold = models.FloatField(help_text="The limit; for 'outside' the lower edge of the band.")
    threshold_high = models.FloatField(null=True, blank=True, help_text="Upper edge of the band ('outside' only).")
    clear_threshold = models.FloatField(
        null=True, blank=True, help_text="Where the value must return to clear (hysteresis); default: the threshold."
    )
    clear_threshold_high = models.FloatField(
        null=True, blank=True, help_text="Upper edge of the clear band ('outside' only); default: threshold_high."
    )
    duration_s = models.PositiveIntegerField(default=0, help_text="Seconds the breach must last before it opens.")
    clear_duration_s = models.PositiveIntegerField(
        default=0, help_text="Seconds the value must stay clear before the alert resolves."
    )
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    escalate_after_s = models.PositiveIntegerField(
        null=True, blank=True, help_text="Still open after this many seconds: raise to escalate_to and notify again."
    )
    escalate_to = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    group = models.ForeignKey(
        "groups.DeviceGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(device__isnull=True) | Q(group__isnull=True), name="alertrule_one_scope")
        ]

    def __str__(self):
        return self.name

    @property
    def alert_type(self) -> str:
        return f"{RULE_ALERT_PREFIX}{self.pk}"

    @property
    def watches_health(self) -> bool:
        return self.field in HealthQuantity.values

    @property
    def scope(self) -> str:
        if self.device_id:
            return f"device {self.device}"
        if self.group_id:
            return f"group {self.group}"
        return "fleet"

    def clean(self):
        errors = {}
        if self.device_id and self.group_id:
            errors["group"] = "A rule watches one device, one group or the whole fleet: not both."
        # A threshold the form refused is None here and already reported; there is nothing to compare it with.
        if self.threshold is not None:
            errors.update(self._threshold_errors())
        higher = self.escalate_to and SEVERITY_RANK[self.escalate_to] > SEVERITY_RANK[self.severity]
        if self.escalate_after_s is not None and not higher:
            errors["escalate_to"] = "Escalation needs a severity higher than the rule's."
        if errors:
            raise ValidationError(errors)

    def _threshold_errors(self) -> dict:
        if self.op == RuleOp.OUTSIDE:
            if self.threshold_high is None or self.threshold_high <= self.threshold:
                return {"threshold_high": "A band needs an upper edge above the threshold."}
            if not self._clear_band_inside():
                return {"clear_threshold": "The clear band must lie inside the alert band."}
        elif self.clear_threshold is not None:
            above = self.op in (RuleOp.GT, RuleOp.GE)
            wrong_side = self.clear_threshold > self.threshold if above else self.clear_threshold < self.threshold
            if wrong_side:
                side = "at or below" if above else "at or above"
                return {"clear_threshold": f"For {self.op} the clear threshold must be {side} the threshold."}
        return {}

    def _clear_band_inside(self) -> bool:
        low = self.threshold if self.clear_threshold is None else self.clear_threshold
        high = self.threshold_high if self.clear_threshold_high is None else self.clear_threshold_high
        return self.threshold <= low <= high <= self.threshold_high


class RulePhase(models.TextChoices):
    """Where a rule stands for one device; no state row means idle (the value is fine)."""

    PENDING = "pending", "breaching, waiting out the duration"
    FIRING = "firing", "alert open"
    CLEARING = "clearing", "clear, waiting out the clear duration"


class AlertRuleState(models.Model):
    """A rule's memory for one device, kept in the database so restarts and other bridges share it.

    Written only on transitions, each a conditional update on `version`: of two bridges racing over the
    same device, one wins and the other re-reads. The alert constraint remains the final gate.
    """

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="states")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="+")
    phase = models.CharField(max_length=8, choices=RulePhase.choices)
    since = models.DateTimeField(help_text="Device time the current phase began.")
    last_ts = models.DateTimeField(help_text="Device time of the reading that made the last transition.")
    value = models.FloatField(null=True)
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "device"], name="alertrulestate_one_per_device")]
        indexes = [models.Index(fields=["device"], name="alertrulestate_device_idx")]
        verbose_name = "alert rule state"

    def __str__(self):
        return f"{self.rule_id}/{self.device_id}: {self.phase}"


class Silence(models.Model):
    """Maintenance window: alerts of the device, group or rule still open but nobody is notified."""

    device = models.ForeignKey("devices.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("groups.DeviceGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="silences")
    reason = models.CharField(max_length=200)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the notification pass told the channels of the alerts still open that it had held back.",
    )

    class Meta:
        ordering = ["-ends_at"]
        indexes = [
            models.Index(fields=["ends_at"], name="silence_unreleased_idx", condition=Q(released_at__isnull=True))
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(device__isnull=False) | Q(group__isnull=False) | Q(rule__isnull=False),
                name="silence_has_target",
            )
        ]

    def __str__(self):
        return f"silence until {self.ends_at:%Y-%m-%d %H:%M} UTC: {self.reason}"

    def clean(self):
        if not (self.device_id or self.group_id or self.rule_id):
            raise ValidationError("Silence a device, a group or a rule.")
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "A silence must end after it starts."})

    def covers(self, alert: Alert) -> bool:
        return (
            (self.device_id is None or self.device_id == alert.device_id)
            and (self.group_id is None or self.group_id == alert.device.group_id)
            and (self.rule_id is None or self.rule_id == alert.rule_id)
        )


# What a channel's alert_types may name: "rule" (the alert of any rule) or an alert type.
ALERT_KINDS = ("rule", *AlertType.values)
RECIPIENTS_MAX = 50
# urllib would also follow ftp:// (which URLField allows): a webhook is an HTTP POST. A code of its own,
# or the field would replace the message with its generic "Enter a valid URL.".
validate_webhook_url = URLValidator(
    schemes=["http", "https"], message="A webhook URL is http:// or https://.", code="webhook_scheme"
)


def validate_recipients(value) -> None:
    """A channel's `to`: a list of email addresses, as the SMTP backend needs it (a bare string is not)."""
    if not isinstance(value, list) or len(value) > RECIPIENTS_MAX:
        raise ValidationError(f'A list of at most {RECIPIENTS_MAX} email addresses, e.g. ["ops@example.com"].')
    for address in value:
        try:
            validate_email(address if isinstance(address, str) else "")
        except ValidationError:
            raise ValidationError(f"{str(address)[:80]!r} is not an email address.") from None


def validate_alert_kinds(value) -> None:
    """A channel's `alert_types`: a list of ALERT_KINDS (routing compares whole names, never substrings)."""
    if not isinstance(value, list):
        raise ValidationError('A list of alert kinds, e.g. ["rule", "device_offline"]; empty: all.')
    unknown = [kind for kind in value if kind not in ALERT_KINDS]
    if unknown:
        raise ValidationError(f"{str(unknown[0])[:40]!r} is not an alert kind: rule or an alert type.")


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class WebhookFormat(models.TextChoices):
    JSON = "json", "JSON (alerts and devices)"
    TEXT = "text", 'Text for Slack / Teams ({"text": ...})'


class NotificationChannel(models.Model):
    """Where alerts are told: an email list or a webhook, for alerts of a minimum severity, scope and kinds."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    url = models.URLField(
        max_length=500, blank=True, validators=[validate_webhook_url], help_text="Webhook address (http or https)."
    )
    secret = models.CharField(max_length=200, blank=True, help_text="Webhook signing key (HMAC-SHA256).")
    body_format = models.CharField(max_length=8, choices=WebhookFormat.choices, default=WebhookFormat.JSON)
    to = models.JSONField(default=list, blank=True, validators=[validate_recipients], help_text="Email recipients.")
    min_severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    device = models.ForeignKey("devices.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("groups.DeviceGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    alert_types = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_alert_kinds],
        help_text="Alert types to send ('rule' for any rule); empty: all.",
    )
    hourly_cap = models.PositiveIntegerField(
        default=60, help_text="At most this many messages an hour; the rest wait for a digest."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.kind == ChannelKind.WEBHOOK and not self.url:
            raise ValidationError({"url": "A webhook needs a URL."})
        if self.kind == ChannelKind.EMAIL and not self.to:
            raise ValidationError({"to": "An email channel needs at least one recipient."})
        if self.device_id and self.group_id:
            raise ValidationError({"group": "A channel listens to one device, one group or the fleet: not both."})

    def wants(self, alert: Alert, severity: str) -> bool:
        """Routing: severity at least min_severity, the alert's device in scope, its type among alert_types."""
        if SEVERITY_RANK[severity] < SEVERITY_RANK[self.min_severity]:
            return False
        if self.device_id and self.device_id != alert.device_id:
            return False
        if self.group_id and self.group_id != alert.device.group_id:
            return False
        if not self.alert_types:
            return True
        kind = "rule" if alert.rule_id or alert.alert_type.startswith(RULE_ALERT_PREFIX) else alert.alert_type
        return kind in self.alert_types


class NoticeEvent(models.TextChoices):
    OPENED = "opened"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    STILL_OPEN = "still_open"  # opened while silenced, still open when the silence ended


class NoticeStatus(models.TextChoices):
    QUEUED = "queued", "waiting for delivery"
    ASSIGNED = "assigned", "in a delivery"
    SILENCED = "silenced", "silenced: nobody told"


class Notice(models.Model):
    """One thing one channel must be told about one alert; deliveries carry one or many (a digest)."""

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="notices")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notices")
    event = models.CharField(max_length=10, choices=NoticeEvent.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.QUEUED)
    silence = models.ForeignKey(Silence, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    delivery = models.ForeignKey("Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="notices")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["channel", "created_at"], name="notice_queued_idx", condition=Q(status="queued"))
        ]

    def __str__(self):
        return f"{self.channel}: {self.alert} {self.event}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    RETRYING = "retrying", "failed, will retry"
    SENT = "sent", "sent"
    FAILED = "failed", "failed for good"


class Delivery(models.Model):
    """One message to one channel (a single alert or a digest), with its attempts: the delivery log."""

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    digest = models.BooleanField(default=False)
    notice_count = models.PositiveIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["channel", "-created_at"], name="delivery_channel_idx")]

    def __str__(self):
        return f"{self.channel} #{self.pk} {self.status}"
