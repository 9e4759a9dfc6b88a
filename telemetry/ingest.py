"""Storing telemetry in batches: one multi-row insert, one device update and one live event per device.

The bridge hands over readings that already passed validation and belong to accepted devices. A batch
is one transaction: the rows go in with `ON CONFLICT (device_id, ts) DO NOTHING`, so redelivered
messages and SD replays of stored records are no-ops, and the number returned is the rows that were
new; the batch's receive-time range goes in beside them, for the rollups (telemetry.rollups). On
PostgreSQL the readings' envelopes (device, times, flags) travel as one array per column through
`unnest`, with each record's JSON text from which the database takes every quantity into its typed
column: a single statement per batch whatever its size. SQLite (embedded mode) gets the values row by
row through executemany.
"""

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest

from acuvim_console.core.events import TELEMETRY_RECEIVED, has_audience, publish_events
from acuvim_console.protocol.enums import TelemetrySource
from acuvim_console.protocol.quantities import KNOWN_FIELDS, QUANTITIES
from devices.models import Device
from telemetry.models import COLUMN_FIELDS, PendingRollup, TelemetryRecord

TABLE = TelemetryRecord._meta.db_table
PENDING_TABLE = PendingRollup._meta.db_table
DEVICE_TABLE = Device._meta.db_table
ENVELOPE_COLUMNS = ("device_id", "ts", "received_at", "seq", "ts_estimated", "source", "connection")
QUANTITY_COLUMNS = tuple(quantity.column for quantity in QUANTITIES)
COLUMNS = (*ENVELOPE_COLUMNS, *QUANTITY_COLUMNS, "extra")
# The batch's arrays in unnest order: (name, type, travels as an array literal rather than binary).
_ARRAYS = (
    ("device_id", "uuid", False),
    ("ts", "timestamptz", False),
    ("received_at", "timestamptz", False),
    ("seq", "int4", True),
    ("ts_estimated", "bool", True),
    ("source", '"char"', False),
    ("connection", '"char"', False),
    ("record", "json", False),
    ("extra", "json", False),
)

# pg_advisory_xact_lock key serialising the per-batch device update ("ACVTELEM" as an integer).
DEVICE_TOUCH_LOCK = int.from_bytes(b"ACVTELEM", "big") - 2**63


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Built once from the model's own table and column names and the protocol's field names; values always
# travel as parameters. PostgreSQL takes each quantity out of the record's JSON text itself
# (json_to_record): the bridge parsed the record already and need not turn ~45 numbers per reading
# into array text again, which measured as the dearest part of the old per-column arrays.
_UNNEST = ", ".join(f"{'%s' if literal else '%b'}::{pg_type}[]" for _, pg_type, literal in _ARRAYS)
# Every quantity is read as double precision. An instantaneous value beyond single precision, too large
# or so small that it is not zero but underflows (no meter sends one: it measures in float32, but
# validation accepts any finite number), would make the `real` column refuse the whole batch; instead it
# stays NULL there and is kept, as sent, in `extra`.
REAL_MAX = 3.4028234663852886e38
REAL_MIN = 1.1754943508222875e-38  # the smallest normal float32; anything closer to zero but not zero is kept aside
_RECORD_TYPES = ", ".join(f"{_quote(q.field)} double precision" for q in QUANTITIES)
_INSTANTS = [q for q in QUANTITIES if not q.counter]


def _in_range(quantity) -> str:
    value = f"q.{_quote(quantity.field)}"
    if quantity.counter:
        return value
    return f"CASE WHEN abs({value}) <= {REAL_MAX!r} AND NOT abs({value}) < {REAL_MIN!r} OR {value} = 0 THEN {value} END"


def _names(fields) -> str:
    return "ARRAY[" + ", ".join(f"'{name}'" for name in sorted(fields)) + "]::text[]"


def _outside_real(value: str) -> str:
    return f"(abs({value}) > {REAL_MAX!r} OR {value} <> 0 AND abs({value}) < {REAL_MIN!r})"


_EXTRA = (
    f"CASE WHEN greatest({', '.join(f'abs(q.{_quote(q.field)})' for q in _INSTANTS)}) > {REAL_MAX!r} "  # noqa: S608
    f"OR least({', '.join(f'nullif(abs(q.{_quote(q.field)}), 0)' for q in _INSTANTS)}) < {REAL_MIN!r} "
    "THEN (SELECT json_object_agg(e.key, e.value) FROM json_each(v.record) AS e "
    f"WHERE e.key <> ALL({_names(KNOWN_FIELDS)}) OR (e.key = ANY({_names(q.field for q in _INSTANTS)}) "
    "AND CASE WHEN json_typeof(e.value) = 'number' "
    f"THEN {_outside_real('e.value::text::double precision')} "
    "ELSE false END)) ELSE v.extra END"
)
# The batch's receive-time range goes to the rollups' queue in the same statement (no extra round trip),
# so it commits with the readings: see telemetry.rollups.
_PENDING = f"INSERT INTO {PENDING_TABLE} (received_from, received_until) VALUES (%s, %s)"  # noqa: S608
INSERT_POSTGRESQL = (
    f"WITH pending AS ({_PENDING}) "  # noqa: S608
    f"INSERT INTO {TABLE} ({', '.join(map(_quote, COLUMNS))}) "
    f"SELECT {', '.join('v.' + c for c in ENVELOPE_COLUMNS)}, {', '.join(map(_in_range, QUANTITIES))}, {_EXTRA} "
    f"FROM unnest({_UNNEST}) AS v({', '.join(name for name, _, _ in _ARRAYS)}) "
    f"CROSS JOIN LATERAL json_to_record(v.record) AS q({_RECORD_TYPES}) "
    "ON CONFLICT (device_id, ts) DO NOTHING"
)
INSERT_PORTABLE = (
    f"INSERT INTO {TABLE} ({', '.join(map(_quote, COLUMNS))}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "  # noqa: S608
    "ON CONFLICT (device_id, ts) DO NOTHING"
)
# Binary arrays (%b) here too: dumping hundreds of timestamps and UUIDs as array text cost more CPU than the update.
TOUCH_DEVICES_POSTGRESQL = (
    f"UPDATE {DEVICE_TABLE} AS d SET "  # noqa: S608
    "last_telemetry = GREATEST(d.last_telemetry, v.ts), "
    "last_seen = GREATEST(d.last_seen, v.seen), "
    "connection_type = CASE WHEN v.conn <> '' AND (d.last_telemetry IS NULL OR v.ts >= d.last_telemetry) "
    "THEN v.conn ELSE d.connection_type END "
    "FROM unnest(%b::uuid[], %b::timestamptz[], %b::timestamptz[], %b::text[]) AS v(id, ts, seen, conn) "
    "WHERE d.id = v.id"
)


@dataclass(slots=True)
class Reading:
    """One validated telemetry record of an accepted device (see acuvim_console.protocol.payloads)."""

    device_pk: uuid.UUID
    device_id: str
    ts: datetime
    ts_estimated: bool
    received_at: datetime
    source: str
    connection: str
    seq: int | None
    record: dict
    data_json: str  # the record as the device sent it

    def extra_json(self) -> str | None:
        """The record's fields the protocol does not define, as JSON; None (the usual case) when there are none."""
        record = self.record
        if KNOWN_FIELDS.issuperset(record):
            return None
        return json.dumps({key: value for key, value in record.items() if key not in KNOWN_FIELDS})


def store_readings(readings: list[Reading]) -> int:
    """Write one batch in one transaction; return how many rows were new (the rest were duplicates)."""
    if not readings:
        return 0
    latest = _latest_per_device(readings)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            stored = _insert_postgresql(readings)
            _touch_devices_postgresql(latest)
        else:
            stored = _insert_portable(readings)
            _touch_devices_portable(latest)
        publish_events(
            [
                (
                    TELEMETRY_RECEIVED,
                    telemetry_event_data(reading.ts, reading.ts_estimated, reading.source, reading.seq, reading.record),
                    reading.device_id,
                )
                for reading in latest
                if has_audience(TELEMETRY_RECEIVED, reading.device_id)
            ]
        )
    return stored


def _latest_per_device(readings: list[Reading]) -> list[Reading]:
    latest: dict[uuid.UUID, Reading] = {}
    for reading in readings:
        current = latest.get(reading.device_pk)
        if current is None or reading.ts >= current.ts:
            latest[reading.device_pk] = reading
    # A fixed order of row locks keeps concurrent bridges from deadlocking on the device rows
    # (device_id is as unique as the key and compares in C, where UUIDs compare in Python).
    return sorted(latest.values(), key=lambda reading: reading.device_id)


_SOURCE = TelemetryRecord._meta.get_field("source")
_CONNECTION = TelemetryRecord._meta.get_field("connection")


def _insert_postgresql(readings: list[Reading]) -> int:
    source_code, connection_code = _SOURCE.code, _CONNECTION.code
    arrays = {
        "device_id": [reading.device_pk for reading in readings],
        "ts": [reading.ts for reading in readings],
        "received_at": [reading.received_at for reading in readings],
        "seq": [reading.seq for reading in readings],
        "ts_estimated": [reading.ts_estimated for reading in readings],
        "source": [source_code(reading.source) for reading in readings],  # one byte each (ByteCodeField)
        "connection": [connection_code(reading.connection) for reading in readings],
        "record": [reading.data_json for reading in readings],
        "extra": [reading.extra_json() for reading in readings],
    }
    # Parameters in _ARRAYS' order, each in the form its placeholder (%s or %b) expects.
    parameters = [*_received_range(readings)]
    parameters += [_array_literal(arrays[name]) if literal else arrays[name] for name, _, literal in _ARRAYS]
    with _server_side_cursor() as cursor:
        cursor.execute(INSERT_POSTGRESQL, parameters)
        return cursor.rowcount


def _received_range(readings: list[Reading]) -> tuple[datetime, datetime]:
    received = [reading.received_at for reading in readings]
    return min(received), max(received)


def _array_literal(values: list) -> str:
    """A PostgreSQL array literal such as `{230.1,NULL,True}`, built by str() and join() in C.

    psycopg dumps a binary array element by element in Python; for a batch's number and flag columns
    this text form costs about a quarter of that (bench/ingest). Only for values whose text never needs
    quoting or escaping: validated finite numbers (ints included), booleans and None (NULL).
    """
    return "{" + ",".join(map(str, values)).replace("None", "NULL") + "}"


@contextmanager
def _server_side_cursor():
    """A psycopg cursor on Django's connection (same transaction) that sends parameters separately.

    Django's own cursor binds client-side, escaping every array element into the SQL text; for a batch
    of hundreds of rows that costs more than the whole insert. Errors still surface as Django's.
    """
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def _touch_devices_postgresql(latest: list[Reading]) -> None:
    """last_telemetry / last_seen / connection of every device in the batch, in one UPDATE.

    Concurrent batches (several writers, several bridges) touch overlapping device rows; a transaction
    lock taken first makes them queue for this short step instead of deadlocking over row order.
    """
    with _server_side_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DEVICE_TOUCH_LOCK])
        cursor.execute(
            TOUCH_DEVICES_POSTGRESQL,
            [
                [reading.device_pk for reading in latest],
                [reading.ts for reading in latest],
                [reading.received_at for reading in latest],
                [_live_connection(reading) for reading in latest],
            ],
        )


def _insert_portable(readings: list[Reading]) -> int:
    ops = connection.ops
    device_field = TelemetryRecord._meta.get_field("device")
    rows = [
        (
            device_field.get_db_prep_value(reading.device_pk, connection),
            ops.adapt_datetimefield_value(reading.ts),
            ops.adapt_datetimefield_value(reading.received_at),
            reading.seq,
            reading.ts_estimated,
            reading.source,
            reading.connection,
            *(reading.record.get(quantity.field) for quantity in QUANTITIES),
            reading.extra_json(),
        )
        for reading in readings
    ]
    with connection.cursor() as cursor:
        cursor.executemany(INSERT_PORTABLE, rows)
        stored = cursor.rowcount
        cursor.execute(_PENDING, [ops.adapt_datetimefield_value(moment) for moment in _received_range(readings)])
    return stored


def _touch_devices_portable(latest: list[Reading]) -> None:
    for reading in latest:
        if connection_type := _live_connection(reading):
            Device.objects.filter(
                Q(last_telemetry__isnull=True) | Q(last_telemetry__lte=reading.ts), pk=reading.device_pk
            ).update(connection_type=connection_type)
        changes = {
            "last_telemetry": Coalesce(Greatest(F("last_telemetry"), Value(reading.ts)), Value(reading.ts)),
            "last_seen": Coalesce(Greatest(F("last_seen"), Value(reading.received_at)), Value(reading.received_at)),
        }
        Device.objects.filter(pk=reading.device_pk).update(**changes)


def _live_connection(reading: Reading) -> str:
    """The link a live record came over; an SD replay says how the device was connected hours ago.

    It is applied only when the reading is the device's newest: batches may commit out of order.
    """
    return reading.connection if reading.source == TelemetrySource.LIVE else ""


def telemetry_event_data(ts: datetime, ts_estimated: bool, source: str, seq: int | None, record: dict) -> dict:
    """TelemetryReceived, and the newest reading of a device page's snapshot: the chart quantities by their
    first names, and the whole record by protocol field names for the quantity picker."""
    return {
        "ts": ts.isoformat(),
        "ts_estimated": ts_estimated,
        "source": source,
        "seq": seq,
        **{column: record.get(field) for field, column in COLUMN_FIELDS.items()},
        "record": record,
    }
