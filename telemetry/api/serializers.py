"""Shapes of the telemetry API and the validation of its time-range query parameters."""

import re
from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from telemetry.models import TelemetryRecord

MAX_RANGE = timedelta(days=400)
MAX_POINTS = 10_000
TARGET_POINTS = 1_000
DEFAULT_RANGE = timedelta(hours=24)
# Bucket sizes offered when the client does not choose one: the smallest giving <= TARGET_POINTS points.
BUCKET_LADDER = (5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
_BUCKET_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BUCKET_PATTERN = re.compile(r"^(\d{1,7})([smhd]?)$")


class TelemetryRecordSerializer(serializers.ModelSerializer):
    device_id = serializers.CharField(source="device.device_id", read_only=True)

    class Meta:
        model = TelemetryRecord
        fields = [
            "device_id",
            "ts",
            "ts_estimated",
            "received_at",
            "source",
            "connection",
            "seq",
            "frequency",
            "voltage_avg",
            "current_avg",
            "power_total",
            "power_factor",
            "data",
        ]
        read_only_fields = fields


class TimeRangeSerializer(serializers.Serializer):
    """`start` and `end` (ISO 8601; naive means UTC); defaults: the last 24 hours."""

    start = serializers.DateTimeField(required=False, help_text="Inclusive; default end - 24 h.")
    end = serializers.DateTimeField(required=False, help_text="Exclusive; default now.")

    def validate(self, attrs):
        end = attrs.get("end") or timezone.now()
        start = attrs.get("start") or end - DEFAULT_RANGE
        if start >= end:
            raise serializers.ValidationError({"start": ["Must be before end."]})
        if end - start > MAX_RANGE:
            raise serializers.ValidationError({"start": [f"The range may span at most {MAX_RANGE.days} days."]})
        return {**attrs, "start": start, "end": end}


class HistoryQuerySerializer(TimeRangeSerializer):
    bucket = serializers.CharField(
        required=False,
        max_length=16,
        help_text="Bucket length: seconds ('300') or with a unit ('30s', '5m', '1h', '1d'); default ~1,000 points.",
    )

    def validate_bucket(self, value):
        match = _BUCKET_PATTERN.match(value.strip().lower())
        seconds = int(match[1]) * _BUCKET_UNITS[match[2] or "s"] if match else 0
        if not 1 <= seconds <= 31 * 86400:
            raise serializers.ValidationError("Give seconds from 1 to 31 days, e.g. '300', '5m', '1h'.")
        return seconds

    def validate(self, attrs):
        attrs = super().validate(attrs)
        span = (attrs["end"] - attrs["start"]).total_seconds()
        bucket = attrs.get("bucket")
        if bucket is None:
            bucket = next((size for size in BUCKET_LADDER if span / size <= TARGET_POINTS), BUCKET_LADDER[-1])
        elif span / bucket > MAX_POINTS:
            raise serializers.ValidationError({"bucket": [f"Too small for this range: at most {MAX_POINTS} buckets."]})
        return {**attrs, "bucket": bucket}


class HistoryPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField(help_text="Start of the bucket.")
    samples = serializers.IntegerField(help_text="Readings averaged into this point.")
    frequency = serializers.FloatField(allow_null=True)
    voltage_avg = serializers.FloatField(allow_null=True)
    current_avg = serializers.FloatField(allow_null=True)
    power_total = serializers.FloatField(allow_null=True)
    power_factor = serializers.FloatField(allow_null=True)


class HistorySerializer(serializers.Serializer):
    device_id = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    bucket_seconds = serializers.IntegerField()
    points = HistoryPointSerializer(many=True)
