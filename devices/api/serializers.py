"""Shapes of the device API. No serializer here exposes `token_hash` or an unredacted secret."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from acuvim_console.protocol.config import redact_secrets
from acuvim_console.protocol.enums import CommandName, ConnectionType, DeviceOtaState, ResetReason
from devices.models import Command, Device, DeviceConfig
from groups.models import DeviceGroup

MAX_TAGS = 32


def reported_choice(choices):
    """A value the device reports from a fixed set, or "" before it has reported one."""
    return serializers.ChoiceField(choices=choices, allow_blank=True, read_only=True)


# The device's reported choices and its config drift, typed the same wherever a device's state is shown.
# (A comment, not a docstring: drf-spectacular would publish it as the description of every subclass's schema.)
class ReportedStateSerializer(serializers.ModelSerializer):
    config_drift = serializers.BooleanField(read_only=True)
    connection_type = reported_choice(ConnectionType.choices)
    reset_reason = reported_choice(ResetReason.choices)
    ota_state = reported_choice(DeviceOtaState.choices)


class DeviceSerializer(ReportedStateSerializer):
    group_name = serializers.CharField(source="group.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Device
        fields = [
            "id",
            "device_id",
            "name",
            "description",
            "group",
            "group_name",
            "tags",
            "status",
            "status_changed_at",
            "hardware",
            "firmware_version",
            "mac_address",
            "imei",
            "iccid",
            "capabilities",
            "meter",
            "connection_type",
            "signal_strength",
            "ip_address",
            "heartbeat_interval",
            "last_heartbeat",
            "last_telemetry",
            "last_seen",
            "boot_count",
            "reset_reason",
            "uptime_s",
            "heap_free",
            "heap_min",
            "sd_ok",
            "sd_queued",
            "sd_free_kb",
            "modbus_ok",
            "modbus_errors",
            "gsm_ok",
            "mqtt_reconnects",
            "ota_state",
            "desired_config_hash",
            "applied_config_hash",
            "config_drift",
            "preprovisioned",
            "approved_at",
            "registered_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeviceListSerializer(DeviceSerializer):
    """A list row: identity, placement and health at a glance; the detail endpoint has the rest."""

    class Meta(DeviceSerializer.Meta):
        fields = [
            "id",
            "device_id",
            "name",
            "group",
            "group_name",
            "tags",
            "status",
            "status_changed_at",
            "hardware",
            "firmware_version",
            "connection_type",
            "signal_strength",
            "last_heartbeat",
            "last_seen",
            "config_drift",
        ]
        read_only_fields = fields


class DeviceUpdateSerializer(serializers.ModelSerializer):
    """What an operator may change: the rest is reported by the device itself."""

    group = serializers.PrimaryKeyRelatedField(queryset=DeviceGroup.objects.all(), allow_null=True, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=False), max_length=MAX_TAGS, required=False
    )

    class Meta:
        model = Device
        fields = ["name", "description", "group", "tags"]
        extra_kwargs = {"name": {"required": False}, "description": {"required": False}}

    def validate_tags(self, tags):
        return sorted({tag.strip() for tag in tags if tag.strip()})

    def update(self, device, validated_data):
        """Write only the edited columns: the bridge updates health columns of the same row all the time,
        and a full save would put back the values read when this request started."""
        for name, value in validated_data.items():
            setattr(device, name, value)
        device.save(update_fields=[*validated_data, "updated_at"])
        return device


class DeviceStatusSerializer(ReportedStateSerializer):
    class Meta:
        model = Device
        fields = [
            "device_id",
            "status",
            "status_changed_at",
            "last_heartbeat",
            "last_telemetry",
            "last_seen",
            "heartbeat_interval",
            "firmware_version",
            "connection_type",
            "signal_strength",
            "ip_address",
            "uptime_s",
            "boot_count",
            "reset_reason",
            "heap_free",
            "heap_min",
            "sd_ok",
            "sd_queued",
            "modbus_ok",
            "modbus_errors",
            "gsm_ok",
            "mqtt_reconnects",
            "ota_state",
            "config_drift",
        ]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.OBJECT)
class RedactedJSONField(serializers.Field):
    """A JSON value shown with every secret (password, pin, token) replaced by '***'."""

    def to_representation(self, value):
        return redact_secrets(value)


class CommandSerializer(serializers.ModelSerializer):
    device_id = serializers.CharField(source="device.device_id", read_only=True)
    params = RedactedJSONField()
    response = RedactedJSONField(allow_null=True)
    progress = RedactedJSONField(allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Command
        fields = [
            "id",
            "request_id",
            "device_id",
            "command",
            "params",
            "status",
            "response",
            "progress",
            "error_code",
            "error_message",
            "batch",
            "timeout_s",
            "created_by",
            "created_at",
            "sent_at",
            "acked_at",
            "completed_at",
            "expires_at",
        ]
        read_only_fields = fields


class CommandRequestSerializer(serializers.Serializer):
    command = serializers.ChoiceField(
        choices=CommandName.choices,
        help_text="A protocol command; ota_update is refused (400): firmware goes out only by deploys.",
    )
    params = serializers.DictField(required=False, default=dict, help_text="Parameters as in the protocol.")
    timeout_s = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 3600,
        help_text="Seconds to wait for the answer (default per command).",
    )


class DeviceConfigSerializer(serializers.Serializer):
    """The desired configuration, redacted, and whether the device has applied it."""

    device_id = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="Null: nothing pushed yet (defaults shown).")
    document = serializers.DictField(help_text="Secrets appear as '***'.")
    config_hash = serializers.CharField(allow_blank=True)
    applied_at = serializers.DateTimeField(allow_null=True)
    desired_config_hash = serializers.CharField(allow_blank=True)
    applied_config_hash = serializers.CharField(allow_blank=True)
    config_drift = serializers.BooleanField()

    @staticmethod
    def describe(device: Device, config: DeviceConfig | None, default_document: dict) -> dict:
        return {
            "device_id": device.device_id,
            "version": config.version if config else None,
            "document": config.redacted() if config else redact_secrets(default_document),
            "config_hash": config.config_hash if config else "",
            "applied_at": config.applied_at if config else None,
            "desired_config_hash": device.desired_config_hash,
            "applied_config_hash": device.applied_config_hash,
            "config_drift": device.config_drift,
        }


class ConfigPushResponseSerializer(serializers.Serializer):
    config = DeviceConfigSerializer()
    command = CommandSerializer()
