"""Telemetry endpoints: a device's latest reading, history of any quantity, CSV; energy of a device or group."""

import abc

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.core.api.permissions import PROTECTED, VIEW_TELEMETRY
from acuvim_console.core.api.schema import BAD_REQUEST, ERROR_RESPONSES, NOT_FOUND
from acuvim_console.core.api.streaming import streaming_download
from acuvim_console.protocol.quantities import LEGACY_CHART_NAMES, Aggregate
from devices.api.views import get_device
from groups.models import DeviceGroup
from telemetry import queries
from telemetry.api import serializers as s
from telemetry.models import FiveMinuteRollup, HourlyRollup
from telemetry.points import points_response
from telemetry.timebuckets import utc_z

TAG = "telemetry"
SOURCE_LABELS = {FiveMinuteRollup: "5m", HourlyRollup: "1h"}


class TelemetryViewBase(APIView):
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_TELEMETRY}


class LatestTelemetryView(TelemetryViewBase):
    @extend_schema(
        tags=[TAG],
        summary="The device's latest reading",
        responses={200: s.TelemetryRecordSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    def get(self, request, device_id):
        device = get_device(device_id)
        record = queries.latest(device)
        if record is None:
            raise NotFound(f"{device.device_id} has not sent telemetry yet.")
        return Response(s.TelemetryRecordSerializer(record).data)


class TelemetryHistoryView(TelemetryViewBase):
    @extend_schema(
        tags=[TAG],
        summary="Any quantity per time bucket over a time range (averages of the chart quantities by default)",
        description=(
            "Without `fields` and `agg`: averages of the five chart quantities (HistorySerializer). With either: "
            "each point holds one object per requested protocol field with the requested aggregates, e.g. "
            '`{"t": ..., "samples": 60, "v1": {"avg": 230.4, "max": 236.0}}` (QuantityHistorySerializer). '
            "Buckets come from the hourly rollup when the bucket is whole hours, the 5-minute rollup when it "
            "is whole 5 minutes, the readings otherwise; the newest buckets always from the readings."
        ),
        parameters=[s.HistoryQuerySerializer],
        responses={
            200: PolymorphicProxySerializer(
                "TelemetryHistory", [s.HistorySerializer, s.QuantityHistorySerializer], resource_type_field_name=None
            ),
            **BAD_REQUEST,
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "Two 5-minute buckets",
                value={
                    "device_id": "ACV-24DCC3A1B2C4",
                    "start": "2026-11-24T10:00:00Z",
                    "end": "2026-11-24T10:10:00Z",
                    "bucket_seconds": 300,
                    "points": [
                        {
                            "t": "2026-11-24T10:00:00Z",
                            "samples": 60,
                            "frequency": 50.01,
                            "voltage_avg": 230.4,
                            "current_avg": 12.1,
                            "power_total": 8.3,
                            "power_factor": 0.97,
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, device_id):
        device = get_device(device_id)
        query = s.HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end, bucket = (query.validated_data[key] for key in ("start", "end", "bucket"))
        body = {"device_id": device.device_id, "start": start, "end": end, "bucket_seconds": bucket}
        fields, aggregates = query.validated_data.get("fields"), query.validated_data.get("agg")
        if fields is None and aggregates is None:  # the first API's shape, unchanged
            return points_response({**body, "points": queries.history_json(device, start, end, bucket)})
        fields = fields or list(LEGACY_CHART_NAMES)
        aggregates = aggregates or [Aggregate.AVG]
        source = queries.source_for(bucket)
        points = queries.quantity_history_json(device, start, end, bucket, fields, aggregates)
        label = SOURCE_LABELS.get(source, "raw")
        return points_response({**body, "source": label, "fields": fields, "agg": aggregates, "points": points})


class TelemetryExportView(TelemetryViewBase):
    @extend_schema(
        tags=[TAG],
        summary="Readings or rollup rows in a time range as CSV (streamed), columns named by protocol field",
        parameters=[s.ExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=", ".join(queries.export_header("raw"))),
            **BAD_REQUEST,
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
    )
    def get(self, request, device_id):
        device = get_device(device_id)
        query = s.ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end, kind = (query.validated_data[key] for key in ("start", "end", "kind"))
        suffix = "" if kind == queries.CsvKind.RAW else f"_{kind}"
        filename = f"{device.device_id}_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}{suffix}.csv"
        chunks = iter(queries.export_csv(device, start, end, kind))
        return streaming_download(request, chunks, filename, "text/csv; charset=utf-8")


class EnergyViewBase(TelemetryViewBase, abc.ABC):
    """Energy per period of one device or a group's members; `/export` gives the same as CSV."""

    as_csv = False

    @abc.abstractmethod
    def devices(self, key) -> tuple[str, list]:
        """The name the answer is for and the pks of the devices whose energy is summed."""

    def get(self, request, **key):
        name, device_pks = self.devices(key)
        query = s.EnergyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end, period = (query.validated_data[k] for k in ("start", "end", "period"))
        points = queries.energy(device_pks, start, end, period)
        if not self.as_csv:
            return Response(points)
        rows = ([utc_z(point["t"]), *(point[k] for k in s.ENERGY_COLUMNS[1:])] for point in points)
        filename = f"{name}_energy_{period}_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.csv"
        return streaming_download(request, queries.csv_chunks(s.ENERGY_COLUMNS, rows), filename, "text/csv")



ENERGY_SCHEMA = {
    "tags": [TAG],
    "parameters": [s.EnergyQuerySerializer],
    "responses": {200: s.EnergyPointSerializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES, **NOT_FOUND},
}
ENERGY_CSV_SCHEMA = {
    **ENERGY_SCHEMA,
    "responses": {
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=", ".join(s.ENERGY_COLUMNS)),
        **BAD_REQUEST,
        **ERROR_RESPONSES,
        **NOT_FOUND,
    },
}


class DeviceEnergyMixin:
    def devices(self, key):
        device = get_device(key["device_id"])
        return device.device_id, [device.pk]


class GroupEnergyMixin:
    def devices(self, key):
        group = get_object_or_404(DeviceGroup, pk=key["pk"])
        return f"group-{group.pk}", list(group.devices.values_list("pk", flat=True))


@extend_schema_view(get=extend_schema(summary="Energy per hour, day or month of one device", **ENERGY_SCHEMA))
class DeviceEnergyView(DeviceEnergyMixin, EnergyViewBase):
    pass


@extend_schema_view(get=extend_schema(summary="A device's energy per period as CSV", **ENERGY_CSV_SCHEMA))
class DeviceEnergyExportView(DeviceEnergyMixin, EnergyViewBase):
    as_csv = True


@extend_schema_view(get=extend_schema(summary="Energy per period summed over a group's devices", **ENERGY_SCHEMA))
class GroupEnergyView(GroupEnergyMixin, EnergyViewBase):
    pass


@extend_schema_view(get=extend_schema(summary="A group's energy per period as CSV", **ENERGY_CSV_SCHEMA))
class GroupEnergyExportView(GroupEnergyMixin, EnergyViewBase):
    as_csv = True
