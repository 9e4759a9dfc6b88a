"""Shapes of alert rules, silences and notification channels in the API.

Each checks its object with the model's own clean(), so the admin and the API refuse the same things
with the same words.
"""

from django.core.exceptions import ValidationError as ModelValidationError
from rest_framework import serializers

from acuvim_console.protocol.identity import is_valid_device_id
from alerts.models import (
    ALERT_KINDS,
    RECIPIENTS_MAX,
    AlertRule,
    NotificationChannel,
    Silence,
    validate_webhook_url,
)
from devices.models import Device


class ModelCleanSerializer(serializers.ModelSerializer):
    """Run Model.clean() on the object as it would be saved and report its errors as a 400."""

    def validate(self, attrs):
        instance = self.instance or self.Meta.model()
        candidate = self.Meta.model(**{**_field_values(instance), **attrs})
        try:
            candidate.clean()
        except ModelValidationError as error:
            detail = error.message_dict if hasattr(error, "error_dict") else error.messages
            raise serializers.ValidationError(detail) from None
        return attrs


def _field_values(instance) -> dict:
    return {f.name: getattr(instance, f.name) for f in instance._meta.concrete_fields if not f.primary_key}


class DeviceByIdField(serializers.SlugRelatedField):
    """A device by its id (ACV-...); anything that cannot be one is refused before it reaches the database."""

    def __init__(self, **kwargs):
        super().__init__(
            slug_field="device_id", queryset=Device.objects.all(), allow_null=True, required=False, **kwargs
        )

    def to_internal_value(self, data):
        if not is_valid_device_id(data):
            raise serializers.ValidationError(f"{str(data)[:40]!r} is not a device id (ACV- and 12 hex digits).")
        return super().to_internal_value(data)


class AlertRuleSerializer(ModelCleanSerializer):
    device = DeviceByIdField(help_text="Device id (ACV-...); null with a null group: the whole fleet.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    scope = serializers.CharField(read_only=True)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "field",
            "op",
            "threshold",
            "threshold_high",
            "clear_threshold",
            "clear_threshold_high",
            "duration_s",
            "clear_duration_s",
            "severity",
            "escalate_after_s",
            "escalate_to",
            "device",
            "group",
            "scope",
            "enabled",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "scope", "created_by", "created_at", "updated_at"]


class SilenceSerializer(ModelCleanSerializer):
    device = DeviceByIdField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Silence
        fields = ["id", "device", "group", "rule", "reason", "starts_at", "ends_at", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


class NotificationChannelSerializer(ModelCleanSerializer):
    device = DeviceByIdField()
    url = serializers.URLField(max_length=500, required=False, allow_blank=True, validators=[validate_webhook_url])
    secret = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Webhook signing key; never shown again.",
    )
    has_secret = serializers.SerializerMethodField()
    to = serializers.ListField(child=serializers.EmailField(), required=False, max_length=RECIPIENTS_MAX)
    alert_types = serializers.ListField(
        child=serializers.ChoiceField(choices=ALERT_KINDS), required=False, max_length=len(ALERT_KINDS)
    )

    class Meta:
        model = NotificationChannel
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "url",
            "secret",
            "has_secret",
            "body_format",
            "to",
            "min_severity",
            "device",
            "group",
            "alert_types",
            "hourly_cap",
            "created_at",
        ]
        read_only_fields = ["id", "has_secret", "created_at"]

    def get_has_secret(self, channel) -> bool:
        return bool(channel.secret)


class DryRunDeviceSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    opened = serializers.IntegerField()
    first_at = serializers.DateTimeField()


class DryRunSerializer(serializers.Serializer):
    """What a rule would have done over the stored history (alerts.dry_run)."""

    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    readings = serializers.IntegerField(help_text="Stored readings replayed.")
    devices = serializers.IntegerField(help_text="Devices with readings in the period.")
    would_open = serializers.IntegerField(help_text="Alerts the rule would have opened.")
    devices_alerted = serializers.IntegerField()
    truncated = serializers.BooleanField(help_text="More rows than ALERT_RULE_DRY_RUN_MAX_ROWS: replay stopped.")
    resolution = serializers.ChoiceField(
        choices=["raw", "5min"], help_text="raw: the readings; 5min: too many readings, the 5-minute rollups."
    )
    busiest = DryRunDeviceSerializer(many=True)
