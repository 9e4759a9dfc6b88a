"""Meter readings as the gateways report them.

A record is identified by `(device, ts)`: redelivered MQTT messages and SD-card replays hit the
unique key and are dropped by `ON CONFLICT DO NOTHING`. The five quantities the charts and the
history endpoint aggregate are copied into real columns; the whole record stays in `data`.
"""

from django.db import models

from telemetry.constraints import CoveringUniqueConstraint
from telemetry.fields import DeviceRecordField


class TelemetrySource(models.TextChoices):
    LIVE = "live", "Live"
    SD = "sd", "SD replay"


class TelemetryRecord(models.Model):
    id = models.BigAutoField(primary_key=True)
    # No database-level foreign key: its per-row check was ~40% of a batch insert (measured on the ingest
    # path), and the bridge only writes rows for devices it has just looked up. Deleting a device still
    # deletes its readings, through Django's cascade.
    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="telemetry", db_index=False, db_constraint=False
    )
    ts = models.DateTimeField(help_text="Device time of the reading (UTC).")
    ts_estimated = models.BooleanField(
        default=False, help_text="The device had no valid clock; ts is the console's receive time."
    )
    received_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=TelemetrySource.choices, default=TelemetrySource.LIVE)
    connection = models.CharField(max_length=8, blank=True)
    seq = models.BigIntegerField(null=True, blank=True)
    frequency = models.FloatField(null=True, blank=True)
    voltage_avg = models.FloatField(null=True, blank=True)
    current_avg = models.FloatField(null=True, blank=True)
    power_total = models.FloatField(null=True, blank=True)
    power_factor = models.FloatField(null=True, blank=True)
    data = DeviceRecordField(help_text="The full record as the device sent it.")

    class Meta:
        ordering = ["-ts"]
        constraints = [
            # The key also carries the chart quantities (INCLUDE, PostgreSQL only; other databases get the
            # plain key): a 30-day history is then read from the index alone instead of from the heap
            # pages one device's readings are scattered over (bench/api: history p95 < 300 ms only so).
            CoveringUniqueConstraint(
                fields=["device", "ts"],
                include=["frequency", "voltage_avg", "current_avg", "power_total", "power_factor"],
                name="telemetry_device_ts_unique",
            )
        ]
        indexes = [models.Index(fields=["-ts"], name="telemetry_ts_idx")]

    def __str__(self):
        return f"{self.device_id} @ {self.ts.isoformat()}"


# Wire field -> column, for the quantities kept as real columns.
COLUMN_FIELDS = {
    "f": "frequency",
    "vavg": "voltage_avg",
    "iavg": "current_avg",
    "pt": "power_total",
    "pft": "power_factor",
}
