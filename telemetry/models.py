"""Meter readings as the gateways report them, and their 5-minute and hourly rollups.

A reading is identified by `(device, ts)`, its primary key: redelivered MQTT messages and SD-card
replays hit it and are dropped by `ON CONFLICT DO NOTHING`. Every quantity of the protocol's record
has a typed column (acuvim_console.protocol.quantities); keys the protocol does not know stay in `extra`, NULL when
there are none, so a reading costs ~300 bytes (a 255-byte row and its key entry) instead of the ~1,000 of a
record kept whole as JSON.

On PostgreSQL the three tables are partitioned by time (telemetry.partitions): retention drops whole
partitions. Django's admin cannot register a model with a composite key, so the admin's readings list is
a view of its own (telemetry.admin_views), beside the device page's charts and the CSV exports.
"""

from django.db import models

from acuvim_console.protocol.enums import ConnectionType, TelemetrySource
from acuvim_console.protocol.quantities import COUNTERS, LEGACY_CHART_NAMES, QUANTITIES, Quantity
from telemetry.fields import ByteCodeField, DeviceRecordField
from telemetry.indexes import BlockRangeIndex


def _number_field(quantity: Quantity, help_text: str = "") -> models.Field:
    """float4 for instantaneous values (what the meter measures), float8 for the energy counters."""
    field_class = models.FloatField if quantity.counter else RealField
    return field_class(null=True, blank=True, help_text=help_text or f"{quantity.label} ({quantity.unit})".strip())


class RealField(models.FloatField):
    """A single-precision float (`real`) on PostgreSQL; other databases store every float alike."""

    def db_type(self, connection):
        return "real" if connection.vendor == "postgresql" else super().db_type(connection)


# The byte each source and link is stored as on PostgreSQL (telemetry.fields.ByteCodeField).
SOURCE_CODES = {TelemetrySource.LIVE.value: "l", TelemetrySource.SD.value: "s"}
CONNECTION_CODES = {"": "", ConnectionType.WIFI.value: "w", ConnectionType.GSM.value: "g"}


class TelemetryRecord(models.Model):
    pk = models.CompositePrimaryKey("device", "ts")
    # No database-level foreign key: its per-row check was ~40% of a batch insert (measured on the ingest
    # path), and the bridge only writes rows for devices it has just looked up. Deleting a device still
    # deletes its readings, through Django's cascade.
    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="telemetry", db_index=False, db_constraint=False
    )
    ts = models.DateTimeField(help_text="Device time of the reading (UTC).")
    received_at = models.DateTimeField(help_text="When the console received it; rollups follow this.")
    # The protocol's per-boot counter: at one reading a second `integer` lasts 68 years between boots.
    seq = models.IntegerField(null=True, blank=True)
    ts_estimated = models.BooleanField(
        default=False, help_text="The device had no valid clock; ts is the console's receive time."
    )
    source = ByteCodeField(
        max_length=8, choices=TelemetrySource.choices, default=TelemetrySource.LIVE, codes=SOURCE_CODES
    )
    connection = ByteCodeField(max_length=8, blank=True, codes=CONNECTION_CODES)
    extra = DeviceRecordField(null=True, blank=True, help_text="Fields the protocol does not define, as sent.")

    class Meta:
        ordering = ["-ts"]
        indexes = [
            # Both grow with insertion order, so a block-range index (a few pages for millions of rows on
            # PostgreSQL) finds the newest readings for retention and the rollups' receive-time watermark.
            BlockRangeIndex(fields=["ts"], name="telemetry_ts_brin", autosummarize=True),
            BlockRangeIndex(fields=["received_at"], name="telemetry_received_brin", autosummarize=True),
        ]

    def __str__(self):
        return f"{self.device_id} @ {self.ts.isoformat()}"

    def as_record(self) -> dict:
        """The reading in the protocol's shape: its quantities by field name, then any extra fields."""
        record = {"ts": self.ts.timestamp(), "seq": self.seq, "src": self.source, "conn": self.connection}
        for quantity in QUANTITIES:
            value = getattr(self, quantity.column)
            if value is not None:
                record[quantity.field] = value
        return {**record, **(self.extra or {})}


for _quantity in QUANTITIES:
    TelemetryRecord.add_to_class(_quantity.column, _number_field(_quantity))
    if _quantity.field in LEGACY_CHART_NAMES:  # the first API's names for the chart columns, read-only
        _legacy = property(lambda self, column=_quantity.column: getattr(self, column))
        setattr(TelemetryRecord, LEGACY_CHART_NAMES[_quantity.field], _legacy)


def rollup_column(quantity: Quantity, aggregate: str) -> str:
    return f"{quantity.column}_{aggregate}"


def energy_column(counter: Quantity) -> str:
    """The increase of an energy counter over a bucket (resets count as no energy, see telemetry.rollups)."""
    return f"{counter.column}_energy"


def first_column(counter: Quantity) -> str:
    return f"{counter.column}_first"


def increase_column(counter: Quantity) -> str:
    return f"{counter.column}_increase"


class Rollup(models.Model):
    """One device's readings over one bucket: the count, and avg/min/max/last of every quantity.

    `last` is the value of the bucket's newest reading; of an energy counter only `last` is kept, beside
    its energy (Quantity.aggregates). Maintained by telemetry.rollups.
    """

    BUCKET_SECONDS: int

    pk = models.CompositePrimaryKey("device", "bucket")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, db_index=False, db_constraint=False)
    bucket = models.DateTimeField(help_text="Start of the bucket (UTC).")
    samples = models.IntegerField(help_text="Readings in the bucket.")

    class Meta:
        abstract = True
        ordering = ["-bucket"]

    def __str__(self):
        return f"{self.device_id} @ {self.bucket.isoformat()}"


def _add_rollup_fields(model: type[Rollup], *, with_energy_parts: bool) -> None:
    for quantity in QUANTITIES:
        for aggregate in quantity.aggregates:
            help_text = f"{aggregate} of {quantity.field}"
            model.add_to_class(rollup_column(quantity, aggregate), _number_field(quantity, help_text))
    for counter in COUNTERS:
        model.add_to_class(energy_column(counter), _number_field(counter, f"{counter.field} increase in the bucket"))
        if with_energy_parts:
            model.add_to_class(first_column(counter), _number_field(counter, f"first {counter.field} in the bucket"))
            model.add_to_class(
                increase_column(counter), _number_field(counter, f"{counter.field} increase between its readings")
            )


class FiveMinuteRollup(Rollup):
    BUCKET_SECONDS = 300

    class Meta(Rollup.Meta):
        indexes = [BlockRangeIndex(fields=["bucket"], name="telemetry_5m_bucket_brin")]


class HourlyRollup(Rollup):
    BUCKET_SECONDS = 3600

    class Meta(Rollup.Meta):
        indexes = [BlockRangeIndex(fields=["bucket"], name="telemetry_1h_bucket_brin")]


# The 5-minute rollup also keeps each counter's first value and the increase between its own readings,
# so a bucket's energy can be recomputed when an SD back-fill lands in the bucket before it.
_add_rollup_fields(FiveMinuteRollup, with_energy_parts=True)
_add_rollup_fields(HourlyRollup, with_energy_parts=False)


class RollupWatermark(models.Model):
    """The newest receive time the rollups have taken in; history reads newer buckets from the readings.

    It only tells history where the rollups end. What the rollups still have to take in is in
    PendingRollup, so a reading committed late (see telemetry.rollups) is never left behind it.
    """

    name = models.CharField(max_length=32, unique=True)
    received_until = models.DateTimeField()

    def __str__(self):
        return f"{self.name}: {self.received_until.isoformat()}"


class PendingRollup(models.Model):
    """The receive-time range of one committed batch of readings the rollups have not taken in yet.

    The ingest writes it in the batch's own transaction, so it becomes visible exactly when the batch's
    readings do, however late that is after their receive time (a database outage, a writer backlog);
    the rollup pass rewrites the buckets of the readings received in the range and deletes the row.
    """

    received_from = models.DateTimeField()
    received_until = models.DateTimeField()

    def __str__(self):
        return f"{self.received_from.isoformat()} .. {self.received_until.isoformat()}"


# Wire field -> name of the chart quantities in the first API and the TelemetryReceived event.
COLUMN_FIELDS = LEGACY_CHART_NAMES
