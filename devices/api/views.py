"""Device endpoints: list, detail/update/delete, status, commands and configuration.

Commands and config pushes go through the command service (devices.control.commands, devices.control.config_push),
exactly as the admin does; this module only translates HTTP to those calls and their errors to 400s.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.core.api.permissions import (
    CHANGE_DEVICE,
    DELETE_DEVICE,
    PROTECTED,
    PUSH_CONFIG,
    SEND_COMMAND,
    VIEW_COMMAND,
    VIEW_CONFIG,
    VIEW_DEVICE,
)
from acuvim_console.core.api.schema import BAD_REQUEST, ERROR_RESPONSES, NOT_FOUND
from acuvim_console.protocol.commands import CommandValidationError
from acuvim_console.protocol.config import DEFAULT_CONFIG, InvalidConfig
from acuvim_console.protocol.enums import CommandName
from devices.api import serializers as s
from devices.api.filters import CommandFilter, DeviceFilter
from devices.choices import UNACCEPTED_STATUSES
from devices.control.commands import send_command
from devices.control.config_push import push_config
from devices.models import Device

DEVICE_TAG = "devices"


class DeviceNotAccepted(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The device is not accepted (pending approval or decommissioned)."
    default_code = "device_not_accepted"


CONFLICT = {409: OpenApiResponse(description="The device is pending approval or decommissioned")}


def get_device(device_id: str) -> Device:
    return get_object_or_404(Device.objects.select_related("group"), device_id=device_id)


# A list view under /api/devices/{device_id}/: lists what its `device_queryset(device)` gives for the device in
# the URL; an unknown device id answers 404. drf-spectacular builds the schema without a URL to read the device
# from, so it gets the serializer model's empty queryset instead. (A comment, not a docstring: drf-spectacular
# would publish a docstring as the description of every endpoint using the mixin.)
class OneDeviceListMixin:
    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.get_serializer_class().Meta.model.objects.none()
        return self.device_queryset(get_device(self.kwargs["device_id"]))


def accepted_device(device_id: str) -> Device:
    device = get_device(device_id)
    if device.status in UNACCEPTED_STATUSES:
        raise DeviceNotAccepted()
    return device


def command_response(command, http_status=status.HTTP_202_ACCEPTED) -> Response:
    return Response(s.CommandSerializer(command).data, status=http_status)


@extend_schema_view(
    get=extend_schema(
        tags=[DEVICE_TAG],
        summary="List devices (filter, search, order, paginate)",
        responses={200: s.DeviceListSerializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES},
    )
)
class DeviceListView(generics.ListAPIView):
    queryset = Device.objects.select_related("group")
    serializer_class = s.DeviceListSerializer
    filterset_class = DeviceFilter
    search_fields = ["device_id", "name", "description", "mac_address", "imei", "iccid"]
    ordering_fields = [
        "device_id",
        "name",
        "status",
        "firmware_version",
        "last_heartbeat",
        "last_seen",
        "signal_strength",
        "created_at",
    ]
    ordering = ["device_id"]
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_DEVICE}


_device_not_found = {**ERROR_RESPONSES, **NOT_FOUND}


@extend_schema_view(
    get=extend_schema(
        tags=[DEVICE_TAG], summary="Device details", responses={200: s.DeviceSerializer, **_device_not_found}
    ),
    put=extend_schema(
        tags=[DEVICE_TAG],
        summary="Update name, description, group and tags",
        request=s.DeviceUpdateSerializer,
        responses={200: s.DeviceSerializer, **BAD_REQUEST, **_device_not_found},
        examples=[
            OpenApiExample(
                "Rename and tag",
                value={"name": "Substation 4 main", "description": "", "group": None, "tags": ["north", "hv"]},
                request_only=True,
            )
        ],
    ),
    patch=extend_schema(
        tags=[DEVICE_TAG],
        summary="Update some of name, description, group and tags",
        request=s.DeviceUpdateSerializer,
        responses={200: s.DeviceSerializer, **BAD_REQUEST, **_device_not_found},
    ),
    delete=extend_schema(
        tags=[DEVICE_TAG], summary="Remove the device and its data (Admin)", responses={204: None, **_device_not_found}
    ),
)
class DeviceDetailView(generics.RetrieveUpdateDestroyAPIView):
    queryset = Device.objects.select_related("group")
    lookup_field = "device_id"
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_DEVICE, "PUT": CHANGE_DEVICE, "PATCH": CHANGE_DEVICE, "DELETE": DELETE_DEVICE}

    def get_serializer_class(self):
        return s.DeviceSerializer if self.request.method in ("GET", "HEAD", "OPTIONS") else s.DeviceUpdateSerializer

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True  # PUT of a subset is what clients send; every field here is optional
        super().update(request, *args, **kwargs)
        return Response(s.DeviceSerializer(get_device(kwargs["device_id"])).data)


class DeviceStatusView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_DEVICE}

    @extend_schema(
        tags=[DEVICE_TAG],
        summary="Current status and health of a device",
        responses={200: s.DeviceStatusSerializer, **_device_not_found},
    )
    def get(self, request, device_id):
        return Response(s.DeviceStatusSerializer(get_device(device_id)).data)


class DeviceCommandView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"POST": SEND_COMMAND}

    @extend_schema(
        tags=[DEVICE_TAG],
        summary="Send a command; it is queued and published when the device is reachable",
        request=s.CommandRequestSerializer,
        responses={202: s.CommandSerializer, **BAD_REQUEST, **_device_not_found, **CONFLICT},
        examples=[
            OpenApiExample("WiFi scan", value={"command": "wifi_scan", "params": {}}, request_only=True),
            OpenApiExample(
                "Read registers",
                value={"command": "modbus_read", "params": {"addr": 4000, "count": 10}},
                request_only=True,
            ),
        ],
    )
    def post(self, request, device_id):
        device = accepted_device(device_id)
        form = s.CommandRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            command = send_command(
                device, data["command"], data["params"], user=request.user, timeout_s=data.get("timeout_s")
            )
        except CommandValidationError as error:
            raise ValidationError(error.errors) from error
        return command_response(command)


@extend_schema_view(
    get=extend_schema(
        tags=[DEVICE_TAG],
        summary="Command history of a device, newest first",
        responses={200: s.CommandSerializer(many=True), **BAD_REQUEST, **_device_not_found},
    )
)
class DeviceCommandHistoryView(OneDeviceListMixin, generics.ListAPIView):
    serializer_class = s.CommandSerializer
    filterset_class = CommandFilter
    search_fields = []
    ordering_fields = ["created_at", "completed_at", "status", "command"]
    ordering = ["-created_at"]
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_COMMAND}

    def device_queryset(self, device):
        return device.commands.select_related("device", "created_by")


class DeviceConfigView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_CONFIG, "POST": PUSH_CONFIG}

    @extend_schema(
        tags=[DEVICE_TAG],
        summary="The desired configuration (secrets redacted) and its drift",
        responses={200: s.DeviceConfigSerializer, **_device_not_found},
    )
    def get(self, request, device_id):
        device = get_device(device_id)
        latest = device.configs.order_by("-version").first()
        return Response(s.DeviceConfigSerializer.describe(device, latest, DEFAULT_CONFIG))

    @extend_schema(
        tags=[DEVICE_TAG],
        summary="Push a partial configuration: stored as a new version and sent as set_config",
        request=OpenApiTypes.OBJECT,
        responses={202: s.ConfigPushResponseSerializer, **BAD_REQUEST, **_device_not_found, **CONFLICT},
        examples=[
            OpenApiExample(
                "Change telemetry interval and WiFi",
                value={"intervals": {"telemetry_s": 10}, "wifi": {"ssid": "plant-ot", "password": "secret-pass"}},
                request_only=True,
            )
        ],
    )
    def post(self, request, device_id):
        device = accepted_device(device_id)
        if not isinstance(request.data, dict) or not request.data:
            raise ValidationError({"detail": "Send a JSON object with the settings to change."})
        try:
            config, command = push_config(device, dict(request.data), user=request.user)
        except (CommandValidationError, InvalidConfig) as error:
            raise ValidationError(error.errors) from error
        device.refresh_from_db()
        return Response(
            {
                "config": s.DeviceConfigSerializer.describe(device, config, DEFAULT_CONFIG),
                "command": s.CommandSerializer(command).data,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class WifiScanView(APIView):
    """POST, not GET: it sends a command, and a GET must change nothing (a link on another site could
    otherwise make a logged-in operator's browser send it with the session cookie)."""

    permission_classes = PROTECTED
    required_permissions = {"POST": SEND_COMMAND}

    @extend_schema(
        tags=[DEVICE_TAG],
        summary="Ask the device to scan for WiFi networks; the result arrives in the command's response",
        request=None,
        responses={202: s.CommandSerializer, **_device_not_found, **CONFLICT},
    )
    def post(self, request, device_id):
        device = accepted_device(device_id)
        return command_response(send_command(device, CommandName.WIFI_SCAN, {}, user=request.user))
