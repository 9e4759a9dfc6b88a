"""Telemetry endpoints of one device: the latest reading, bucketed history and a CSV export."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.api.permissions import PROTECTED, VIEW_TELEMETRY
from acuvim_console.api.schema import BAD_REQUEST, ERROR_RESPONSES, NOT_FOUND
from acuvim_console.api.streaming import streaming_download
from devices.api.views import get_device
from telemetry import queries
from telemetry.api import serializers as s

TAG = "telemetry"


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
        summary="Averages per time bucket over a time range",
        parameters=[s.HistoryQuerySerializer],
        responses={200: s.HistorySerializer, **BAD_REQUEST, **ERROR_RESPONSES, **NOT_FOUND},
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
        points = queries.history(device, start, end, bucket)
        # Points are plain dicts of floats and UTC datetimes, already in HistorySerializer's shape; running
        # thousands of them through the serializer would cost more than the query itself.
        body = {"device_id": device.device_id, "start": start, "end": end, "bucket_seconds": bucket, "points": points}
        return Response(body)


class TelemetryExportView(TelemetryViewBase):
    @extend_schema(
        tags=[TAG],
        summary="Every reading in a time range as CSV (streamed)",
        parameters=[s.TimeRangeSerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=", ".join(queries.EXPORT_COLUMNS)),
            **BAD_REQUEST,
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
    )
    def get(self, request, device_id):
        device = get_device(device_id)
        query = s.TimeRangeSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        filename = f"{device.device_id}_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.csv"
        chunks = iter(queries.export_csv(device, start, end))
        return streaming_download(request, chunks, filename, "text/csv; charset=utf-8")
