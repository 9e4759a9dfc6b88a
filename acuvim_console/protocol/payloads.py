"""Validation of every payload a device sends (docs/mqtt-protocol.md), in one place for the bridge, handlers and tests.

Each `parse_*` takes the decoded JSON document and returns a plain dict with normalised types: `ts` becomes
an aware UTC datetime (or None when the device had no clock), numbers are checked to be real finite numbers
(never strings, booleans, NaN or Infinity), strings are bounded by the columns they end up in. Unknown extra
fields are kept, so newer firmware can add fields without being refused. Anything else raises
`PayloadError(reason, message)` with a RejectReason code and a message a field engineer can act on.

The bridge validates before routing: handlers receive the parsed dict, never raw JSON.
"""

import ipaddress
import json
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
import orjson
from django.conf import settings

from acuvim_console.core import json_limits
from acuvim_console.core.json_limits import JsonRefusal
from acuvim_console.protocol.enums import (
    AlertState,
    ConnectionType,
    DeviceOtaState,
    PresenceState,
    ResetReason,
    ResponseStatus,
    Severity,
    TelemetrySource,
)
from acuvim_console.protocol.identity import is_valid_device_id
from acuvim_console.protocol.reasons import RejectReason
from acuvim_console.protocol.schema import Field, json_type_name

# Nothing in this fleet was built before 2020: an older timestamp is an unset clock or a corrupt record.
EARLIEST_TS = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
MAX_FLOAT = sys.float_info.max










class PayloadError(ValueError):
    """A device message the console refuses; `reason` is a RejectReason, `message` says what exactly."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


# --- Decoding ---------------------------------------------------------------------------------


def _refuse_constant(name: str):
    raise PayloadError(RejectReason.NON_FINITE_NUMBER, f"{name} is not a number")


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)


def decode_text(raw: bytes, limit: int | None = None) -> str:
    """Bytes off the wire to text, refusing oversize and non-UTF-8 payloads before any parsing work."""
    _check_size(raw, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(RejectReason.INVALID_JSON, "payload is not UTF-8") from None


def _check_size(raw: bytes, limit: int | None) -> None:
    limit = settings.MQTT_MAX_PAYLOAD_BYTES if limit is None else limit
    if len(raw) > limit:
        raise PayloadError(RejectReason.PAYLOAD_TOO_LARGE, f"payload of {len(raw)} bytes exceeds {limit}")


def parse_json(text: str) -> object:
    try:
        return _decoder.decode(text)
    except PayloadError:
        raise
    except ValueError as exc:
        message = getattr(exc, "msg", str(exc))
        raise PayloadError(RejectReason.INVALID_JSON, f"payload is not JSON: {message}") from None


def decode_payload(raw: bytes, limit: int | None = None) -> object:
    """A payload's JSON document, parsed by orjson straight from the bytes, its shape bounded before use.

    orjson is four times faster than the standard parser on a telemetry record, which matters at
    10,000 messages a second. It is strict JSON, so it refuses NaN and Infinity like we do; whatever it
    refuses goes through the standard parser, which says exactly why (non-finite number, bad UTF-8,
    where the syntax breaks) or accepts the few documents only it reads (numbers beyond float range,
    lone surrogate escapes), so the reasons are those of the standard parser. One difference remains:
    orjson reads an integer beyond 64 bits as the nearest float, which every check here treats alike
    (a number for a reading, not a whole number for counters and sequence numbers).

    Depth, container sizes and text are checked here, before any handler, serializer or storage walks
    the document (see `check_shape`), so no later step can recurse without bound or store what it
    cannot read back.
    """
    _check_size(raw, limit)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise PayloadError(RejectReason.PAYLOAD_TOO_COMPLEX, _too_deep_message()) from None
        text = decode_text(raw, limit)
        try:
            document = parse_json(text)
        except RecursionError:
            raise PayloadError(RejectReason.PAYLOAD_TOO_COMPLEX, _too_deep_message()) from None
        check_shape(document)  # the standard parser lets lone surrogates through: always look
        return document
    if _may_be_unusual(raw):
        check_shape(document)
    return document


# --- Shape: depth, container sizes, text storage can keep --------------------------------------


def _too_deep_message() -> str:
    return f"JSON is nested deeper than {settings.MQTT_MAX_JSON_DEPTH} levels"


def _may_be_unusual(raw: bytes) -> bool:
    """Whether a document orjson accepted could break a shape rule; False for every ordinary payload.

    Counting brackets and commas in the bytes bounds the depth and the size of every container from
    above, at C speed, so the exact walk runs only for documents that might need it. orjson reads an
    escaped NUL (`\\u0000`) into a string, which the walk refuses; it refuses lone surrogates itself.
    """
    return (
        raw.count(b"{") + raw.count(b"[") > settings.MQTT_MAX_JSON_DEPTH
        or raw.count(b",") >= settings.MQTT_MAX_JSON_MEMBERS
        or b"\\u0000" in raw
    )


def check_shape(document: object) -> None:
    """Refuse documents nested too deep, containers with too many members, and text storage cannot keep.

    The same iterative walk as every web input (acuvim_console.core.json_limits), with the bridge's tighter
    bounds; NUL characters and lone surrogates are refused in keys and values alike: PostgreSQL text
    cannot hold a NUL, and a lone surrogate can be stored in a `json` column but not encoded again when read.
    """
    members = settings.MQTT_MAX_JSON_MEMBERS
    try:
        json_limits.check_document(document, settings.MQTT_MAX_JSON_DEPTH, members, max_array_items=members)
    except json_limits.JsonRefused as refused:
        text_problem = refused.reason in (JsonRefusal.NUL_CHARACTER, JsonRefusal.LONE_SURROGATE)
        reason = RejectReason.INVALID_TEXT if text_problem else RejectReason.PAYLOAD_TOO_COMPLEX
        raise PayloadError(reason, refused.message) from None


# --- Field checks -----------------------------------------------------------------------------


def latest_acceptable_ts() -> float:
    """The newest timestamp accepted right now (now + MQTT_MAX_FUTURE_SECONDS)."""
    return time.time() + settings.MQTT_MAX_FUTURE_SECONDS


def parse_ts(value: object, name: str = "ts", latest: float | None = None) -> datetime | None:
    """Epoch seconds to an aware datetime; None stays None (no clock yet). Bounds: 2020 .. `latest`.

    A batch passes `latest` computed once, rather than reading the clock and settings per record.
    """
    if value is None:
        return None
    if type(value) not in (int, float):
        raise PayloadError(RejectReason.INVALID_FIELD, f"{name} must be epoch seconds, got {json_type_name(value)}")
    if value - value != 0:
        raise PayloadError(RejectReason.NON_FINITE_NUMBER, f"{name} is not finite")
    if value < EARLIEST_TS:
        raise PayloadError(RejectReason.TS_TOO_OLD, f"{name} {value} is before 2020")
    if value > (latest_acceptable_ts() if latest is None else latest):
        raise PayloadError(RejectReason.TS_IN_FUTURE, f"{name} {value} is too far in the future")
    return datetime.fromtimestamp(value, UTC)


def _shown(value: object) -> str:
    """A refused value as an error message quotes it: strings and numbers short, containers by their type."""
    if type(value) in (str, int, float):
        return repr(value)[:60]
    return json_type_name(value)


def _count(**limits) -> Field:
    """Integers a device sends are counts, sizes and times unless a field says otherwise: 0 .. 2^31-1."""
    return Field("int", **{"low": 0, "high": MAX_INT32, **limits})


_ADDRESS = Field("str", max_length=45)
_CAPABILITY = Field("str", max_length=32)


def _check_value(value: object, name: str, spec: Field) -> object:
    """One field by its declaration (acuvim_console.protocol.schema), with the payload's own reasons."""
    kind = spec.kind
    if kind == "ts":
        return parse_ts(value, name)
    if kind in ("number", "int") and type(value) in (int, float):
        if value - value != 0:
            raise PayloadError(RejectReason.NON_FINITE_NUMBER, f"{name} is not finite")
        if not -MAX_FLOAT <= value <= MAX_FLOAT:  # a 400-digit integer fits no number column
            raise PayloadError(RejectReason.INVALID_FIELD, f"{name} is out of range")
    if kind == "ip":
        text = _check_value(value, name, _ADDRESS)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise PayloadError(RejectReason.INVALID_FIELD, f"{name} {text[:45]!r} is not an IP address") from None
        return text
    if kind == "object":
        return _check_object(value, spec.fields, name)
    problem = spec.problem(value)
    if problem is not None:
        raise PayloadError(RejectReason.INVALID_FIELD, f"{name} {problem}, got {_shown(value)}")
    if kind == "list":
        return [_check_value(item, f"{name}[]", _CAPABILITY) for item in value]
    return value


def _check_object(document: object, spec: dict[str, Field], what: str) -> dict:
    """Check the fields named in `spec`; keep the rest as sent. Null counts as absent."""
    if type(document) is not dict:
        raise PayloadError(RejectReason.NOT_AN_OBJECT, f"{what} must be a JSON object, got {json_type_name(document)}")
    result = dict(document)
    for name, field_spec in spec.items():
        value = document.get(name)
        if value is None:
            if field_spec.required:
                raise PayloadError(RejectReason.MISSING_FIELD, f"{what}: {name} is missing")
            result[name] = None
            continue
        result[name] = _check_value(value, f"{what}.{name}" if what != "payload" else name, field_spec)
    return result


# --- Messages ---------------------------------------------------------------------------------

_CONNECTIONS = tuple(ConnectionType.values)
_VERSION = Field("str", max_length=32)
_HASH = Field("str", max_length=64)
_HEARTBEAT_S = _count(low=1, high=86400)

REGISTRATION_FIELDS = {
    "device_id": Field("str", required=True, max_length=32),
    "mac": Field("str", pattern=r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}"),
    "imei": Field("str", pattern=r"[0-9]{0,15}"),
    "iccid": Field("str", pattern=r"[0-9A-Fa-f]{0,22}"),
    "hw": Field("str", max_length=64),
    "fw": _VERSION,
    "caps": Field("list"),
    "boot": _count(),
    "reset": Field("str", choices=tuple(ResetReason.values)),
    "meter": Field("object"),
    "hb_s": _HEARTBEAT_S,
    "cfg": _HASH,
    "ts": Field("ts"),
}

STATUS_FIELDS = {
    "state": Field("str", required=True, choices=tuple(PresenceState.values)),
    "ts": Field("ts"),
    "conn": Field("str", choices=_CONNECTIONS),
    "reason": Field("str", max_length=64),
}

HEARTBEAT_FIELDS = {
    "ts": Field("ts"),
    "fw": _VERSION,
    "uptime": _count(high=MAX_INT64),
    "boot": _count(),
    "reset": Field("str", choices=tuple(ResetReason.values)),
    "heap": _count(),
    "heap_min": _count(),
    "conn": Field("str", choices=_CONNECTIONS),
    "rssi": Field("int", low=-150, high=50),
    "ip": Field("ip"),
    "hb_s": _HEARTBEAT_S,
    "cfg": _HASH,
    "sd": Field(
        "object", fields={"ok": Field("bool"), "queued": _count(), "free_kb": _count(high=MAX_INT64)}
    ),
    "modbus": Field("object", fields={"ok": Field("bool"), "errors": _count(), "last_ok": Field("number")}),
    "gsm": Field("object", fields={"ok": Field("bool")}),
    "mqtt_reconnects": _count(),
    "ota": Field("object", fields={"state": Field("str", choices=tuple(DeviceOtaState.values)), "prev": _VERSION}),
}

ALERT_FIELDS = {
    "ts": Field("ts"),
    "type": Field("str", required=True, pattern=r"[a-z][a-z0-9_]{0,31}"),
    "sev": Field("str", required=True, choices=tuple(Severity.values)),
    "state": Field("str", required=True, choices=tuple(AlertState.values)),
    "msg": Field("str", max_length=500),
    "val": Field("number"),
    "thr": Field("number"),
}

RESPONSE_FIELDS = {
    "req": Field("str", required=True, max_length=64),
    "cmd": Field("str", required=True, max_length=32),
    "status": Field("str", required=True, choices=tuple(ResponseStatus.values)),
    "ts": Field("ts"),
    "stage": Field("str", max_length=32),
    "progress": Field("number", low=0, high=100),
    "data": Field("object"),
    "code": Field("str", max_length=32),
    "msg": Field("str", max_length=1000),
}


def parse_registration(document: object, topic_device_id: str | None = None) -> dict:
    """A registration; its `device_id` must be valid and, on `devices/register/{id}`, equal the topic's id."""
    payload = _check_object(document, REGISTRATION_FIELDS, "payload")
    device_id = payload["device_id"]
    if not is_valid_device_id(device_id):
        raise PayloadError(RejectReason.INVALID_DEVICE_ID, f"device_id {device_id[:40]!r} is not a device id")
    if topic_device_id is not None and device_id != topic_device_id:
        raise PayloadError(
            RejectReason.DEVICE_ID_MISMATCH, f"payload device_id {device_id} differs from topic id {topic_device_id}"
        )
    return payload


def parse_status(document: object) -> dict:
    return _check_object(document, STATUS_FIELDS, "payload")


def parse_heartbeat(document: object) -> dict:
    return _check_object(document, HEARTBEAT_FIELDS, "payload")


def parse_alert(document: object) -> dict:
    return _check_object(document, ALERT_FIELDS, "payload")


def parse_response(document: object) -> dict:
    return _check_object(document, RESPONSE_FIELDS, "payload")


# --- Telemetry (the hot path: a hand-written loop rather than the generic checks) ---------------

NUMERIC_TELEMETRY_FIELDS = frozenset(
    {
        *("f", "v1", "v2", "v3", "vavg", "v12", "v23", "v31", "vlavg", "i1", "i2", "i3", "iavg", "in"),
        *("p1", "p2", "p3", "pt", "q1", "q2", "q3", "qt", "s1", "s2", "s3", "st", "pf1", "pf2", "pf3", "pft"),
        *("ep_imp", "ep_exp", "eq_imp", "eq_exp", "thd_v1", "thd_v2", "thd_v3", "thd_i1", "thd_i2", "thd_i3"),
        *("ub_v", "ub_i"),
    }
)
_SOURCES = frozenset(TelemetrySource.values)
_CONNECTION_SET = frozenset(_CONNECTIONS)


def parse_telemetry_record(document: object, received_at: datetime, latest: float | None = None) -> dict:
    """One reading: measured quantities must be finite numbers (null = not measured); `ts` must be present.

    Returns {"ts", "ts_estimated", "seq", "source", "connection", "record"}, where `record` is the document
    as sent (it is stored whole). A null `ts` takes the receive time and marks the record estimated.
    """
    if type(document) is not dict:
        got = json_type_name(document)
        raise PayloadError(RejectReason.NOT_AN_OBJECT, f"telemetry record must be an object, got {got}")
    for name, value in document.items():
        if name in NUMERIC_TELEMETRY_FIELDS:
            kind = type(value)
            if kind is float:
                if value - value != 0:
                    raise PayloadError(RejectReason.NON_FINITE_NUMBER, f"field {name} is not finite")
            elif kind is int:
                if not -MAX_FLOAT <= value <= MAX_FLOAT:  # a 400-digit integer fits no number column
                    raise PayloadError(RejectReason.INVALID_FIELD, f"field {name} is out of range")
            elif value is not None:
                got = json_type_name(value)
                raise PayloadError(RejectReason.INVALID_FIELD, f"field {name} is {got}, expected a number")
    if "ts" not in document:
        raise PayloadError(RejectReason.MISSING_FIELD, "telemetry record has no ts")
    ts = parse_ts(document["ts"], latest=latest)
    seq = document.get("seq")
    if seq is not None and (type(seq) is not int or not 0 <= seq <= MAX_INT32):
        message = f"field seq must be a whole number from 0 to {MAX_INT32}, got {_shown(seq)}"
        raise PayloadError(RejectReason.INVALID_FIELD, message)
    source = document.get("src") or TelemetrySource.LIVE.value
    if type(source) is not str or source not in _SOURCES:
        raise PayloadError(RejectReason.INVALID_FIELD, f"field src must be live or sd, got {_shown(source)}")
    connection = document.get("conn") or ""
    if type(connection) is not str or (connection and connection not in _CONNECTION_SET):
        raise PayloadError(RejectReason.INVALID_FIELD, f"field conn must be wifi or gsm, got {_shown(connection)}")
    return {
        "ts": ts or received_at,
        "ts_estimated": ts is None,
        "seq": seq,
        "source": source,
        "connection": connection,
        "record": document,
    }


def parse_telemetry(
    document: object, received_at: datetime, latest: float | None = None
) -> tuple[list[dict], list[PayloadError]]:
    """A single record or an array of them (GSM batches, SD replays); bad records are refused one by one."""
    if type(document) is dict:
        return [parse_telemetry_record(document, received_at, latest)], []
    if type(document) is not list:
        got = json_type_name(document)
        raise PayloadError(RejectReason.NOT_AN_OBJECT, f"telemetry must be an object or array, got {got}")
    if not document:
        raise PayloadError(RejectReason.INVALID_FIELD, "telemetry array is empty")
    records, errors = [], []
    for item in document:
        try:
            records.append(parse_telemetry_record(item, received_at, latest))
        except PayloadError as exc:
            errors.append(exc)
    return records, errors


# --- Telemetry fast path: the same rules, checked in C ------------------------------------------

_TelemetryTypes = msgspec.defstruct(
    "_TelemetryTypes",
    [
        ("ts", float | None),  # required, as in parse_telemetry_record; its range is checked by parse_ts
        ("seq", Annotated[int, msgspec.Meta(ge=0, le=MAX_INT32)] | None, None),
        ("src", Literal[tuple(TelemetrySource.values)], TelemetrySource.LIVE.value),
        ("conn", Literal[tuple(ConnectionType.values)], ""),
        *((name, float | None, None) for name in sorted(NUMERIC_TELEMETRY_FIELDS)),
    ],
)
telemetry_types = msgspec.json.Decoder(_TelemetryTypes | list[_TelemetryTypes])


def decode_telemetry(
    raw: bytes, received_at: datetime, latest: float | None = None, limit: int | None = None
) -> tuple[object, list[dict], list[PayloadError]]:
    """`decode_payload` + `parse_telemetry` in one step: (document, records, refused records).

    For a well-formed payload, msgspec checks every field's type in C (about a third of the cost of
    the hand-written loop, bench/payloads) and orjson reads the document as sent, which is what is
    stored. The typed decode is stricter than the rules, never looser: whatever it refuses (a wrong
    type, a null `src`, a duplicate key, anything unusual) goes through the hand-written path, so the
    outcome and the reason are always exactly those of `parse_telemetry` (a property test checks it).
    """
    _check_size(raw, limit)
    if not _may_be_unusual(raw):
        try:
            typed = telemetry_types.decode(raw)
            document = orjson.loads(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, orjson.JSONDecodeError):
            pass
        else:
            if type(typed) is not list:
                return document, [_typed_record(typed, document, received_at, latest)], []
            if typed:
                records, errors = [], []
                for item, item_document in zip(typed, document, strict=True):
                    try:
                        records.append(_typed_record(item, item_document, received_at, latest))
                    except PayloadError as exc:
                        errors.append(exc)
                return document, records, errors
    document = decode_payload(raw, limit)
    return document, *parse_telemetry(document, received_at, latest)


def _typed_record(typed, document: dict, received_at: datetime, latest: float | None) -> dict:
    ts = parse_ts(document["ts"], latest=latest)  # the value as sent, so a refusal quotes it as sent
    return {
        "ts": ts or received_at,
        "ts_estimated": ts is None,
        "seq": typed.seq,
        "source": typed.src,
        "connection": typed.conn,
        "record": document,
    }
