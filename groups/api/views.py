"""Group endpoints: CRUD, a command to every member, and a firmware rollout to the group.

A group command is one CommandBatch (devices.control.commands.send_group_command). A group deployment is the
firmware app's deploy endpoint with the group as its target, so both paths share one implementation.
"""

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.core.api.permissions import (
    ADD_GROUP,
    CHANGE_GROUP,
    DELETE_GROUP,
    DEPLOY_FIRMWARE,
    PROTECTED,
    SEND_COMMAND,
    VIEW_GROUP,
)
from acuvim_console.core.api.schema import BAD_REQUEST, ERROR_RESPONSES, NOT_FOUND
from acuvim_console.protocol.commands import CommandValidationError
from devices.control.commands import batch_summary, send_group_command
from firmware.api import serializers as firmware_serializers
from firmware.api.views import DeployView
from groups.api import serializers as s
from groups.models import DeviceGroup

TAG = "groups"
_TARGET_KEYS = ("device_ids", "group", "hardware")


def groups_with_counts():
    return DeviceGroup.objects.annotate(device_count=Count("devices"))


@extend_schema_view(
    get=extend_schema(
        tags=[TAG],
        summary="List device groups",
        responses={200: s.DeviceGroupSerializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES},
    ),
    post=extend_schema(
        tags=[TAG],
        summary="Create a group",
        responses={201: s.DeviceGroupSerializer, **BAD_REQUEST, **ERROR_RESPONSES},
        examples=[
            OpenApiExample("Site", value={"name": "Plant North", "description": "Building A"}, request_only=True)
        ],
    ),
)
class GroupListView(generics.ListCreateAPIView):
    queryset = groups_with_counts()
    serializer_class = s.DeviceGroupSerializer
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "device_count"]
    ordering = ["name"]
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_GROUP, "POST": ADD_GROUP}

    def perform_create(self, serializer):
        serializer.save()
        serializer.instance.device_count = 0


_not_found = {**ERROR_RESPONSES, **NOT_FOUND}


@extend_schema_view(
    get=extend_schema(tags=[TAG], summary="One group", responses={200: s.DeviceGroupSerializer, **_not_found}),
    put=extend_schema(
        tags=[TAG], summary="Update a group", responses={200: s.DeviceGroupSerializer, **BAD_REQUEST, **_not_found}
    ),
    patch=extend_schema(
        tags=[TAG],
        summary="Update part of a group",
        responses={200: s.DeviceGroupSerializer, **BAD_REQUEST, **_not_found},
    ),
    delete=extend_schema(
        tags=[TAG], summary="Delete a group (its devices become ungrouped)", responses={204: None, **_not_found}
    ),
)
class GroupDetailView(generics.RetrieveUpdateDestroyAPIView):
    queryset = groups_with_counts()
    serializer_class = s.DeviceGroupSerializer
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_GROUP, "PUT": CHANGE_GROUP, "PATCH": CHANGE_GROUP, "DELETE": DELETE_GROUP}


class GroupCommandView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"POST": SEND_COMMAND}

    @extend_schema(
        tags=[TAG],
        summary="Send a command to every accepted device of the group, tracked as one batch",
        request=s.GroupCommandRequestSerializer,
        responses={202: s.GroupCommandResponseSerializer, **BAD_REQUEST, **_not_found},
        examples=[
            OpenApiExample("Sync clocks", value={"command": "sync_time", "params": {}}, request_only=True),
            OpenApiExample(
                "Batch",
                value={
                    "batch_id": "6f1c0a9e-3d1b-4a54-9a7e-2f1f8e1f0c11",
                    "group": "0b5f4d3e-1c2a-4b6d-8e9f-0a1b2c3d4e5f",
                    "command": "sync_time",
                    "summary": {"pending": 2, "sent": 10, "total": 12, "open": 12, "finished": 0},
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, pk):
        group = get_object_or_404(DeviceGroup, pk=pk)
        form = s.GroupCommandRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            batch = send_group_command(
                group, form.validated_data["command"], form.validated_data["params"], user=request.user
            )
        except CommandValidationError as error:
            raise ValidationError(error.errors) from error
        return Response(
            {"batch_id": batch.pk, "group": group.pk, "command": batch.command, "summary": batch_summary(batch)},
            status=status.HTTP_202_ACCEPTED,
        )


class GroupDeployView(DeployView):
    required_permissions = {"POST": DEPLOY_FIRMWARE}
    permission_classes = PROTECTED

    @extend_schema(
        tags=[TAG],
        summary="Deploy a firmware version to the group's devices (a rollout; dry_run shows the plan)",
        request=s.GroupDeploySerializer,
        responses={
            201: firmware_serializers.RolloutSerializer,
            200: firmware_serializers.DeployPlanSerializer,
            **BAD_REQUEST,
            **_not_found,
        },
        examples=[
            OpenApiExample(
                "Waves of 10%", value={"version": "1.4.0", "wave_percent": 10, "dry_run": False}, request_only=True
            )
        ],
    )
    def post(self, request, pk):
        group = get_object_or_404(DeviceGroup, pk=pk)
        if not isinstance(request.data, dict):
            raise ValidationError({"detail": "Send a JSON object."})
        body = {key: value for key, value in request.data.items() if key not in _TARGET_KEYS}
        request._full_data = {**body, "group": str(group.pk)}  # the path names the target
        return super().post(request)
