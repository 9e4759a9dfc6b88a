"""`/api/dashboard/summary` and `/api/dashboard/stats`: the fleet at a glance.

Every figure is one aggregate query over an indexed column, so the dashboard stays cheap with
100,000 devices and millions of telemetry rows.
"""

from datetime import timedelta

from django.db.models import Count, F
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.core.api.permissions import PROTECTED, VIEW_DEVICE
from acuvim_console.core.api.schema import ERROR_RESPONSES
from acuvim_console.protocol.enums import Severity
from alerts.services import open_alert_counts
from devices.choices import UNACCEPTED_STATUSES, CommandStatus, DeviceStatus
from devices.models import Command, Device
from devices.registry.status import devices_by_status
from telemetry.models import TelemetryRecord
from telemetry.queries import messages_per_minute


def device_counts() -> dict[str, int]:
    counts = devices_by_status()
    counts["total"] = sum(counts.values())
    counts["config_drift"] = (
        Device.objects.exclude(desired_config_hash="")
        .exclude(status__in=UNACCEPTED_STATUSES)
        .exclude(applied_config_hash=F("desired_config_hash"))
        .count()
    )
    return counts


def alert_counts() -> dict[str, int]:
    by_severity, unacknowledged = open_alert_counts()
    return {**by_severity, "active": sum(by_severity.values()), "unacknowledged": unacknowledged}


def fleet_stats(now=None) -> dict:
    now = now or timezone.now()
    recent = TelemetryRecord.objects.filter(ts__gte=now - timedelta(hours=1), ts__lte=now).order_by()
    by_command_status = dict(
        Command.objects.filter(created_at__gte=now - timedelta(hours=24))
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    versions = (
        Device.objects.exclude(status__in=UNACCEPTED_STATUSES)
        .order_by()
        .values("firmware_version")
        .annotate(count=Count("pk"))
        .order_by("-count", "firmware_version")
    )
    return {
        "generated_at": now,
        "messages_per_minute": messages_per_minute(now),
        "telemetry_rows_last_hour": recent.count(),
        "commands_last_24h": {status: by_command_status.get(status, 0) for status in CommandStatus.values},
        "firmware_versions": [
            {"version": row["firmware_version"] or "unknown", "count": row["count"]} for row in versions
        ],
    }


_count = serializers.IntegerField
SummarySerializer = inline_serializer(
    "DashboardSummary",
    {
        **{status: _count() for status in DeviceStatus.values},
        "total": _count(),
        "config_drift": _count(help_text="Accepted devices whose applied config differs from the desired one."),
        "alerts": inline_serializer(
            "ActiveAlertCounts",
            {
                **{severity: _count() for severity in Severity.values},
                "active": _count(),
                "unacknowledged": _count(),
            },
        ),
    },
)
StatsSerializer = inline_serializer(
    "DashboardStats",
    {
        "generated_at": serializers.DateTimeField(),
        "messages_per_minute": serializers.FloatField(
            help_text="Telemetry records per minute over the last 5 minutes."
        ),
        "telemetry_rows_last_hour": _count(),
        "commands_last_24h": inline_serializer(
            "CommandCountsByStatus", {status: _count() for status in CommandStatus.values}
        ),
        "firmware_versions": inline_serializer(
            "FirmwareVersionCount", {"version": serializers.CharField(), "count": _count()}, many=True
        ),
    },
)


class DashboardSummaryView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_DEVICE}

    @extend_schema(
        tags=["dashboard"],
        summary="Devices by status and active alerts by severity",
        responses={200: SummarySerializer, **ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "Fleet",
                value={
                    "pending": 2,
                    "online": 118,
                    "degraded": 3,
                    "offline": 7,
                    "decommissioned": 1,
                    "total": 131,
                    "config_drift": 4,
                    "alerts": {"info": 0, "warning": 5, "critical": 1, "active": 6, "unacknowledged": 4},
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        return Response({**device_counts(), "alerts": alert_counts()})


class DashboardStatsView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_DEVICE}

    @extend_schema(
        tags=["dashboard"],
        summary="Telemetry rate, commands by status (24 h) and the firmware versions in the fleet",
        responses={200: StatsSerializer, **ERROR_RESPONSES},
    )
    def get(self, request):
        return Response(fleet_stats())
