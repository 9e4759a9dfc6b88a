"""Shapes of the group API: groups, group commands and group firmware deployments."""

from rest_framework import serializers

from devices.api.serializers import CommandRequestSerializer
from firmware.api.serializers import DeploySerializer
from groups.models import DeviceGroup


class DeviceGroupSerializer(serializers.ModelSerializer):
    device_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = DeviceGroup
        fields = ["id", "name", "description", "device_count", "created_at"]
        read_only_fields = ["id", "device_count", "created_at"]


class GroupCommandRequestSerializer(CommandRequestSerializer):
    timeout_s = None  # the command service picks each command's timeout for a batch


class BatchSummarySerializer(serializers.Serializer):
    """Commands of the batch by status (every CommandStatus value is a key), plus totals."""

    total = serializers.IntegerField()
    open = serializers.IntegerField()
    finished = serializers.IntegerField()


class GroupCommandResponseSerializer(serializers.Serializer):
    batch_id = serializers.UUIDField()
    group = serializers.UUIDField()
    command = serializers.CharField()
    summary = serializers.DictField(child=serializers.IntegerField())


class GroupDeploySerializer(DeploySerializer):
    """The body of POST /api/firmware/deploy without the target: the group in the path is the target."""

    device_ids = None
    group = None
    hardware = None
