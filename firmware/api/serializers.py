"""Shapes of the firmware API: images, the device update check, deployments and rollouts."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from firmware.download_links import download_path
from firmware.models import FirmwareVersion, Rollout, RolloutDevice
from firmware.rollouts import state_counts


class FirmwareVersionSerializer(serializers.ModelSerializer):
    size = serializers.IntegerField(source="file_size", read_only=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    download_path = serializers.SerializerMethodField()

    class Meta:
        model = FirmwareVersion
        fields = [
            "id",
            "version",
            "filename",
            "size",
            "sha256",
            "project_name",
            "chip",
            "idf_version",
            "release_notes",
            "hardware",
            "mandatory",
            "active",
            "uploaded_by",
            "created_at",
            "download_path",
        ]
        read_only_fields = fields

    def get_download_path(self, firmware) -> str:
        return download_path(firmware.version)


class FirmwareUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The application .bin from the ESP-IDF build.")
    version = serializers.CharField(
        required=False, allow_blank=True, max_length=32, help_text="Optional; must equal the image's own version."
    )
    release_notes = serializers.CharField(required=False, allow_blank=True, default="")
    mandatory = serializers.BooleanField(required=False, default=False)
    hardware = serializers.CharField(
        required=False, allow_blank=True, max_length=64, default="", help_text="Empty: every device."
    )


class FirmwareChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = FirmwareVersion
        fields = ["release_notes", "hardware", "mandatory", "active"]


class FirmwareCheckQuerySerializer(serializers.Serializer):
    device_id = serializers.CharField(required=False, allow_blank=True, max_length=32)
    current_version = serializers.CharField(required=False, allow_blank=True, max_length=32)
    hardware = serializers.CharField(required=False, allow_blank=True, max_length=64)


class FirmwareCheckResponseSerializer(serializers.Serializer):
    update_available = serializers.BooleanField()
    version = serializers.CharField(required=False)
    url = serializers.CharField(required=False, help_text="Download URL, signed for the device when one is known.")
    size = serializers.IntegerField(required=False)
    sha256 = serializers.CharField(required=False)
    release_notes = serializers.CharField(required=False, allow_blank=True)
    mandatory = serializers.BooleanField(required=False)


class DeploySerializer(serializers.Serializer):
    version = serializers.CharField(max_length=32)
    device_ids = serializers.ListField(child=serializers.CharField(max_length=64), required=False, allow_empty=False)
    group = serializers.CharField(required=False, help_text="Group id or name.")
    hardware = serializers.CharField(required=False, max_length=64, help_text="Every device of this hardware.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    wave_size = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    wave_percent = serializers.IntegerField(required=False, min_value=1, max_value=100, allow_null=True)
    success_ratio = serializers.FloatField(required=False, min_value=0.01, max_value=1.0, default=0.9)
    max_failures = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    max_failure_percent = serializers.IntegerField(required=False, min_value=1, max_value=100, allow_null=True)
    allow_downgrade = serializers.BooleanField(required=False, default=False)
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    dry_run = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        targets = [key for key in ("device_ids", "group", "hardware") if attrs.get(key)]
        if len(targets) != 1:
            raise serializers.ValidationError("Give exactly one target: device_ids, group or hardware.")
        if attrs.get("wave_size") and attrs.get("wave_percent"):
            raise serializers.ValidationError("Give wave_size or wave_percent, not both.")
        return attrs


class SkippedDeviceSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    reason = serializers.CharField()


class DeployPlanSerializer(serializers.Serializer):
    version = serializers.CharField()
    eligible = serializers.ListField(child=serializers.CharField())
    skipped = SkippedDeviceSerializer(many=True)


class RolloutDeviceSerializer(serializers.ModelSerializer):
    device_id = serializers.CharField(source="device.device_id", read_only=True)
    command_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = RolloutDevice
        fields = [
            "device_id",
            "wave",
            "state",
            "progress",
            "from_version",
            "reason",
            "command_id",
            "started_at",
            "finished_at",
            "updated_at",
        ]
        read_only_fields = fields


@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}, "example": {"succeeded": 3}})
class StateCountsField(serializers.Field):
    def to_representation(self, rollout):
        return state_counts(rollout)


class RolloutSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="firmware.version", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    counts = StateCountsField(source="*", read_only=True)

    class Meta:
        model = Rollout
        fields = [
            "id",
            "name",
            "version",
            "status",
            "pause_reason",
            "target",
            "wave_size",
            "wave_percent",
            "wave_count",
            "current_wave",
            "success_ratio",
            "max_failures",
            "max_failure_percent",
            "allow_downgrade",
            "start_at",
            "counts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RolloutDetailSerializer(RolloutSerializer):
    devices = RolloutDeviceSerializer(many=True, read_only=True)

    class Meta(RolloutSerializer.Meta):
        fields = [*RolloutSerializer.Meta.fields, "devices"]
        read_only_fields = fields


class RolloutRetrySerializer(serializers.Serializer):
    retried = serializers.IntegerField()
    rollout = RolloutSerializer()
