"""Shapes of the telemetry API and the validation of its time-range query parameters."""

import re
from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from acuvim_console.protocol.quantities import BY_FIELD, ENERGY_KEYS, Aggregate
from telemetry.models import TelemetryRecord
from telemetry.queries import CsvKind, EnergyPeriod

MAX_RANGE = timedelta(days=400)
MAX_POINTS = 10_000
TARGET_POINTS = 1_000
DEFAULT_RANGE = timedelta(hours=24)
DEFAULT_ENERGY_RANGE = timedelta(days=30)
MAX_FIELDS = 16
# Bucket sizes offered when the client does not choose one: the smallest giving <= TARGET_POINTS points.
BUCKET_LADDER = (5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
_BUCKET_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BUCKET_PATTERN = re.compile(r"^(\d{1,7})([smhd]?)$")


class TelemetryRecordSerializer(serializers.ModelSerializer):
    """A reading: the envelope, the five chart quantities under the first API's names, and the whole record."""

    device_id = serializers.CharField(source="device.device_id", read_only=True)
    frequency = serializers.FloatField(source="f", allow_null=True)
    voltage_avg = serializers.FloatField(source="vavg", allow_null=True)
    current_avg = serializers.FloatField(source="iavg", allow_null=True)
    power_total = serializers.FloatField(source="pt", allow_null=True)
    power_factor = serializers.FloatField(source="pft", allow_null=True)
    data = serializers.DictField(
        source="as_record", read_only=True, help_text="The reading by protocol field name, extra fields included."
    )

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
    fields = serializers.CharField(
        required=False,
        max_length=400,
        help_text="Comma-separated protocol field names (v1,v2,thd_i3,...); each point then holds one object per "
        "field. Default with `agg`: f,vavg,iavg,pt,pft.",
    )
    agg = serializers.CharField(
        required=False, max_length=40, help_text="Comma-separated aggregates: avg,min,max,last (default avg)."
    )

    def validate_bucket(self, value):
        match = _BUCKET_PATTERN.match(value.strip().lower())
        seconds = int(match[1]) * _BUCKET_UNITS[match[2] or "s"] if match else 0
        if not 1 <= seconds <= 31 * 86400:
            raise serializers.ValidationError("Give seconds from 1 to 31 days, e.g. '300', '5m', '1h'.")
        return seconds

    def validate_fields(self, value):
        names = _comma_list(value)
        unknown = [name for name in names if name not in BY_FIELD]
        if unknown or not names:
            raise serializers.ValidationError(f"Unknown field(s) {', '.join(unknown) or '(none given)'}; "
                                              f"known: {', '.join(BY_FIELD)}.")  # fmt: skip
        if len(names) > MAX_FIELDS:
            raise serializers.ValidationError(f"At most {MAX_FIELDS} fields per request.")
        return names

    def validate_agg(self, value):
        names = _comma_list(value)
        unknown = [name for name in names if name not in Aggregate.values]
        if unknown or not names:
            raise serializers.ValidationError(f"Give some of {', '.join(Aggregate.values)}.")
        return names

    def validate(self, attrs):
        attrs = super().validate(attrs)
        span = (attrs["end"] - attrs["start"]).total_seconds()
        bucket = attrs.get("bucket")
        if bucket is None:
            bucket = next((size for size in BUCKET_LADDER if span / size <= TARGET_POINTS), BUCKET_LADDER[-1])
        elif span / bucket > MAX_POINTS:
            raise serializers.ValidationError({"bucket": [f"Too small for this range: at most {MAX_POINTS} buckets."]})
        self._check_counters(attrs.get("fields") or [], attrs.get("agg") or [Aggregate.AVG])
        return {**attrs, "bucket": bucket}

    @staticmethod
    def _check_counters(fields, aggregates) -> None:
        """An energy counter has only `last` in the rollups (Quantity.aggregates); its energy is /energy."""
        counters = [field for field in fields if BY_FIELD[field].counter]
        other = [aggregate for aggregate in aggregates if aggregate != Aggregate.LAST]
        if counters and other:
            raise serializers.ValidationError({"agg": [
                f"{', '.join(counters)}: energy counters have agg=last only (not {', '.join(other)}); "
                "their energy per hour, day or month is GET /api/devices/{id}/telemetry/energy."
            ]})  # fmt: skip


def _comma_list(value: str) -> list[str]:
    return list(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))


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


class QuantityPointSerializer(serializers.Serializer):
    """A point of `fields=` history; besides `t` and `samples`, one object per field: {"avg": ..., "max": ...}."""

    t = serializers.DateTimeField(help_text="Start of the bucket.")
    samples = serializers.IntegerField(help_text="Readings in this bucket.")


class QuantityHistorySerializer(serializers.Serializer):
    device_id = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    bucket_seconds = serializers.IntegerField()
    source = serializers.ChoiceField(choices=["raw", "5m", "1h"], help_text="Table the buckets were computed from.")
    fields = serializers.ListField(child=serializers.CharField())
    agg = serializers.ListField(child=serializers.CharField())
    points = QuantityPointSerializer(many=True)


class ExportQuerySerializer(TimeRangeSerializer):
    kind = serializers.ChoiceField(
        choices=CsvKind.choices, default=CsvKind.RAW, help_text="raw readings, 5-minute (5m) or hourly (1h) rollups."
    )


class EnergyQuerySerializer(TimeRangeSerializer):
    """`start`/`end` (default: the last 30 days) and `period`: hour, day or month (UTC)."""

    period = serializers.ChoiceField(choices=EnergyPeriod.choices, default=EnergyPeriod.DAY)

    def validate(self, attrs):
        if not attrs.get("start"):
            end = attrs.get("end") or timezone.now()
            attrs = {**attrs, "start": end - DEFAULT_ENERGY_RANGE, "end": end}
        return super().validate(attrs)


class EnergyPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField(help_text="Start of the period (UTC).")
    ep_imp_kwh = serializers.FloatField(allow_null=True)
    ep_exp_kwh = serializers.FloatField(allow_null=True)
    eq_imp_kvarh = serializers.FloatField(allow_null=True)
    eq_exp_kvarh = serializers.FloatField(allow_null=True)


ENERGY_COLUMNS = ["t", *ENERGY_KEYS.values()]
