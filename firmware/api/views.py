"""REST endpoints for firmware images, the gateways' update check and download, and rollouts."""

import logging

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from acuvim_console.core.api.permissions import PROTECTED
from devices.choices import UNACCEPTED_STATUSES
from devices.models import Device
from firmware import conf
from firmware.api import serializers as s
from firmware.api.permissions import (
    ADD_FIRMWARE,
    CHANGE_FIRMWARE,
    DELETE_FIRMWARE,
    DEPLOY_FIRMWARE,
    VIEW_FIRMWARE,
    VIEW_ROLLOUT,
)
from firmware.device_auth import DeviceTokenAuthentication, authenticated_device
from firmware.download_links import DownloadLinkInvalid, download_path, signed_download_url, verify_download
from firmware.downloads import firmware_response
from firmware.models import FirmwareVersion, Rollout
from firmware.planning import plan
from firmware.removal import FirmwareInUse, delete_firmware
from firmware.rollouts import (
    RolloutError,
    cancel_rollout,
    create_rollout,
    pause_rollout,
    resume_rollout,
    retry_failed,
)
from firmware.targets import TargetError, select_devices
from firmware.updates import find_update
from firmware.uploads import UploadRejected, upload_firmware

log = logging.getLogger(__name__)

# Gateways authenticate with their token; operators with the usual JWT or session.
DEVICE_OR_USER_AUTH = [DeviceTokenAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]


class FirmwareListView(generics.ListAPIView):
    """`GET /api/firmware`: every image, newest first; `POST`: upload one (multipart)."""

    queryset = FirmwareVersion.objects.select_related("uploaded_by")
    serializer_class = s.FirmwareVersionSerializer
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_FIRMWARE, "POST": ADD_FIRMWARE}
    parser_classes = [MultiPartParser, FormParser]
    filterset_fields = ["active", "mandatory", "hardware"]
    search_fields = ["version", "release_notes"]
    ordering_fields = ["created_at", "version"]

    @extend_schema(
        request={"multipart/form-data": s.FirmwareUploadSerializer},
        responses={201: s.FirmwareVersionSerializer, 400: OpenApiResponse(description="The image was refused.")},
        summary="Upload a firmware image",
    )
    def post(self, request):
        form = s.FirmwareUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            firmware = upload_firmware(
                data["file"],
                version=data.get("version") or "",
                release_notes=data["release_notes"],
                mandatory=data["mandatory"],
                hardware=data["hardware"],
                user=request.user,
            )
        except UploadRejected as rejected:
            return Response(
                {rejected.field: [rejected.message], "reason": rejected.reason}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response(s.FirmwareVersionSerializer(firmware).data, status=status.HTTP_201_CREATED)


class FirmwareDetailView(generics.RetrieveUpdateDestroyAPIView):
    """`GET/PATCH/DELETE /api/firmware/{version}`."""

    queryset = FirmwareVersion.objects.select_related("uploaded_by")
    lookup_field = "version"
    permission_classes = PROTECTED
    required_permissions = {
        "GET": VIEW_FIRMWARE,
        "PATCH": CHANGE_FIRMWARE,
        "PUT": CHANGE_FIRMWARE,
        "DELETE": DELETE_FIRMWARE,
    }

    def get_serializer_class(self):
        return s.FirmwareChangeSerializer if self.request.method in ("PATCH", "PUT") else s.FirmwareVersionSerializer

    @extend_schema(request=s.FirmwareChangeSerializer, responses=s.FirmwareVersionSerializer)
    def patch(self, request, *args, **kwargs):
        super().patch(request, *args, **kwargs)
        return Response(s.FirmwareVersionSerializer(self.get_object()).data)

    @extend_schema(exclude=True)
    def put(self, request, *args, **kwargs):
        return self.patch(request, *args, **kwargs)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="A rollout still uses this version.")})
    def delete(self, request, *args, **kwargs):
        try:
            delete_firmware(self.get_object(), user=request.user)
        except FirmwareInUse as in_use:
            return Response({"detail": str(in_use)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FirmwareCheckView(APIView):
    """`GET /api/firmware/check`: does this gateway have an update? (device token, or an operator)."""

    authentication_classes = DEVICE_OR_USER_AUTH
    permission_classes = [AllowAny]  # checked below: a device, or a user allowed to view firmware

    @extend_schema(
        parameters=[s.FirmwareCheckQuerySerializer],
        responses={200: s.FirmwareCheckResponseSerializer, 400: OpenApiResponse(description="Bad current_version")},
        summary="Check for a firmware update",
    )
    def get(self, request):
        query = s.FirmwareCheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        device = _device_for_check(request, query.validated_data.get("device_id") or "")
        current = query.validated_data.get("current_version") or (device.firmware_version if device else "")
        hardware = query.validated_data.get("hardware") or (device.hardware if device else "")
        try:
            offer = find_update(current, hardware)
        except ValueError as invalid:
            raise ValidationError({"current_version": [str(invalid)]}) from invalid
        if offer is None:
            return Response({"update_available": False})
        firmware = offer.firmware
        url = (
            signed_download_url(firmware.version, device.device_id)
            if device
            else _absolute(download_path(firmware.version))
        )
        return Response(
            {
                "update_available": True,
                "version": firmware.version,
                "url": url,
                "size": firmware.file_size,
                "sha256": firmware.sha256,
                "release_notes": firmware.release_notes,
                "mandatory": offer.mandatory,
            }
        )


def _require_firmware_viewer(request, no_credentials: str) -> None:
    """When no device token (or signed link) answered for the request: a logged-in user allowed to view firmware,
    else 401 with `no_credentials` saying what to send, or 403."""
    if not request.user.is_authenticated:
        raise NotAuthenticated(no_credentials)
    if not request.user.has_perm(VIEW_FIRMWARE):
        raise PermissionDenied()


def _device_for_check(request, device_id: str) -> Device | None:
    device = authenticated_device(request)
    if device is not None:
        if device_id and device_id != device.device_id:
            raise PermissionDenied(f"This token belongs to {device.device_id}, not {device_id}.")
        return device
    _require_firmware_viewer(request, "Send 'Authorization: Device <token>' or log in.")
    return get_object_or_404(Device, device_id=device_id) if device_id else None


def _absolute(path: str) -> str:
    return conf.console_base_url() + path


class FirmwareDownloadView(APIView):
    """`GET /api/firmware/download/{version}`: the image, with HTTP Range support for resumed downloads.

    Accepts a device token, a signed link (`?device_id=...&sig=...` from an ota_update command or the
    check endpoint) or an operator allowed to view firmware.
    """

    authentication_classes = DEVICE_OR_USER_AUTH
    permission_classes = [AllowAny]  # checked in _authorize, which knows about signed links

    @extend_schema(
        parameters=[
            OpenApiParameter("device_id", str, description="With sig: the device the link was signed for."),
            OpenApiParameter("sig", str, description="Signature of a download link (expires)."),
            OpenApiParameter("Range", str, OpenApiParameter.HEADER, description="e.g. bytes=1024-"),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            401: OpenApiResponse(description="No credentials."),
            403: OpenApiResponse(description="Wrong, expired or foreign link."),
            416: OpenApiResponse(description="Range starts past the end of the image."),
        },
        summary="Download a firmware image",
    )
    def get(self, request, version):
        who = self._authorize(request, version)
        firmware = get_object_or_404(FirmwareVersion, version=version)
        range_header = request.headers.get("Range")
        log.info("firmware %r download by %s (range %r)", version, who, range_header or "all")
        return firmware_response(firmware, range_header, request.headers.get("If-Range"))

    def _authorize(self, request, version: str) -> str:
        device = authenticated_device(request)
        if device is not None:
            return device.device_id
        if "sig" in request.query_params:
            device_id = request.query_params.get("device_id", "")
            try:
                verify_download(version, device_id, request.query_params["sig"])
            except DownloadLinkInvalid as invalid:
                log.warning("firmware %r download refused for %r: %s", version, device_id, invalid)
                raise PermissionDenied(str(invalid).capitalize() + ".") from invalid
            if not Device.objects.filter(device_id=device_id).exclude(status__in=UNACCEPTED_STATUSES).exists():
                raise PermissionDenied(f"{device_id} may not fetch firmware.")
            return device_id
        _require_firmware_viewer(request, "Send 'Authorization: Device <token>', use a signed link, or log in.")
        return str(request.user)


class DeployView(APIView):
    """`POST /api/firmware/deploy`: start a rollout (or, with dry_run, show who would get it)."""

    permission_classes = PROTECTED
    required_permissions = {"POST": DEPLOY_FIRMWARE}

    @extend_schema(
        request=s.DeploySerializer,
        responses={201: s.RolloutSerializer, 200: s.DeployPlanSerializer, 400: OpenApiResponse(description="Refused")},
        summary="Deploy a firmware version to devices, a group or a hardware type",
    )
    def post(self, request):
        form = s.DeploySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        firmware = get_object_or_404(FirmwareVersion, version=data["version"])
        try:
            devices, target = select_devices(
                device_ids=data.get("device_ids"), group=data.get("group"), hardware=data.get("hardware")
            )
        except TargetError as error:
            raise ValidationError({"detail": str(error)}) from error
        if data["dry_run"]:
            eligible, skipped = plan(firmware, devices, data["allow_downgrade"])
            return Response(
                {
                    "version": firmware.version,
                    "eligible": [device.device_id for device in eligible],
                    "skipped": [{"device_id": device.device_id, "reason": reason} for device, reason in skipped],
                }
            )
        options = {
            key: data.get(key)
            for key in ("wave_size", "wave_percent", "max_failures", "max_failure_percent", "start_at")
        }
        try:
            rollout = create_rollout(
                firmware,
                devices,
                user=request.user,
                success_ratio=data["success_ratio"],
                allow_downgrade=data["allow_downgrade"],
                name=data["name"],
                target=target,
                **options,
            )
        except RolloutError as error:
            raise ValidationError({"detail": str(error)}) from error
        return Response(s.RolloutSerializer(rollout).data, status=status.HTTP_201_CREATED)


class RolloutListView(generics.ListAPIView):
    """`GET /api/firmware/rollouts`."""

    queryset = Rollout.objects.select_related("firmware", "created_by")
    serializer_class = s.RolloutSerializer
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_ROLLOUT}
    filterset_fields = ["status", "firmware__version"]
    ordering_fields = ["created_at"]


class RolloutDetailView(generics.RetrieveAPIView):
    """`GET /api/firmware/rollouts/{id}`: the rollout with every device's OTA state."""

    queryset = Rollout.objects.select_related("firmware", "created_by").prefetch_related("devices__device")
    serializer_class = s.RolloutDetailSerializer
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_ROLLOUT}


class RolloutActionView(APIView):
    """`POST /api/firmware/rollouts/{id}/pause|resume|cancel|retry`."""

    permission_classes = PROTECTED
    required_permissions = {"POST": DEPLOY_FIRMWARE}
    action = ""

    @extend_schema(request=None, responses={200: s.RolloutSerializer, 409: OpenApiResponse(description="Not now")})
    def post(self, request, pk):
        rollout = get_object_or_404(Rollout, pk=pk)
        try:
            if self.action == "retry":
                retried = retry_failed(rollout, user=request.user)
                rollout.refresh_from_db()
                return Response({"retried": retried, "rollout": s.RolloutSerializer(rollout).data})
            rollout = ROLLOUT_ACTIONS[self.action](rollout, user=request.user)
        except RolloutError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        rollout.refresh_from_db()
        return Response(s.RolloutSerializer(rollout).data)


class RolloutRetryView(RolloutActionView):
    action = "retry"

    @extend_schema(request=None, responses={200: s.RolloutRetrySerializer, 409: OpenApiResponse(description="No")})
    def post(self, request, pk):
        return super().post(request, pk)


ROLLOUT_ACTIONS = {"pause": pause_rollout, "resume": resume_rollout, "cancel": cancel_rollout}
