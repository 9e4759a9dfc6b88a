"""Alert endpoints: the fleet's alerts, one device's alerts, and acknowledging one."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.core.api.permissions import ACKNOWLEDGE_ALERT, PROTECTED, VIEW_ALERT
from acuvim_console.core.api.schema import BAD_REQUEST, ERROR_RESPONSES, NOT_FOUND
from alerts.api.filters import AlertFilter
from alerts.models import Alert
from alerts.serializers import AlertSerializer
from alerts.services import acknowledge_alerts
from devices.api.views import OneDeviceListMixin

TAG = "alerts"
MAX_BIGINT = 2**63 - 1
ORDERING_FIELDS = ["created_at", "last_seen_at", "severity", "occurrences", "resolved_at"]


class AlertListBase(generics.ListAPIView):
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    search_fields = ["message", "device__device_id", "device__name"]
    ordering_fields = ORDERING_FIELDS
    ordering = ["-created_at"]
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_ALERT}
    queryset = Alert.objects.select_related("device", "rule", "acknowledged_by", "resolved_by")


@extend_schema_view(
    get=extend_schema(
        tags=[TAG],
        summary="Alerts across the fleet (filter by severity, type, acknowledged, state, device)",
        responses={200: AlertSerializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES},
    )
)
class AlertListView(AlertListBase):
    pass


@extend_schema_view(
    get=extend_schema(
        tags=[TAG],
        summary="Alerts of one device",
        responses={200: AlertSerializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES, **NOT_FOUND},
    )
)
class DeviceAlertListView(OneDeviceListMixin, AlertListBase):
    def device_queryset(self, device):
        return self.queryset.filter(device=device)


class AlertAcknowledgeView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"PUT": ACKNOWLEDGE_ALERT}

    @extend_schema(
        tags=[TAG],
        summary="Acknowledge an alert (repeating it changes nothing)",
        request=None,
        responses={200: AlertSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def put(self, request, pk):
        if pk > MAX_BIGINT:  # would overflow the column type instead of simply not matching
            raise NotFound()
        alert = get_object_or_404(Alert, pk=pk)
        acknowledge_alerts(Alert.objects.filter(pk=alert.pk), request.user)
        alert = AlertListBase.queryset.get(pk=alert.pk)
        return Response(AlertSerializer(alert).data)
