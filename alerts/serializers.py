"""An alert as JSON: the shape GET /api/alerts returns and webhooks carry, so a receiver parses one format."""

from rest_framework import serializers

from alerts.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    device_id = serializers.CharField(source="device.device_id", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    is_open = serializers.BooleanField(read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "device_id",
            "alert_type",
            "severity",
            "source",
            "message",
            "value",
            "threshold",
            "metadata",
            "rule",
            "rule_name",
            "occurrences",
            "is_open",
            "acknowledged",
            "acknowledged_by",
            "acknowledged_at",
            "created_at",
            "last_seen_at",
            "resolved_at",
            "resolved_by",
        ]
        read_only_fields = fields
