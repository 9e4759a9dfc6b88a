"""Payload validation: normalised types out, a reason code for everything refused."""

import json
import math
import time
from datetime import UTC, datetime

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from acuvim_console.protocol import payloads
from acuvim_console.protocol.payloads import PayloadError
from acuvim_console.protocol.topics import TopicError, TopicKind, command_topic, parse_topic, subscription_filters
from tests.bridge import messages

NOW = datetime.now(UTC)


def reason_of(call) -> str:
    with pytest.raises(PayloadError) as caught:
        call()
    return caught.value.reason


def test_telemetry_record_is_normalised_and_keeps_unknown_fields():
    ts = time.time() - 5
    [record], errors = payloads.parse_telemetry(messages.reading(ts, seq=3, foo="bar"), NOW)
    assert errors == []
    assert record["ts"] == datetime.fromtimestamp(ts, UTC)
    assert record["seq"] == 3 and record["source"] == "live" and record["connection"] == "wifi"
    assert record["record"]["foo"] == "bar"


def test_telemetry_array_refuses_bad_records_one_by_one():
    good, bad = messages.reading(time.time()), messages.reading(time.time(), v1="230")
    records, errors = payloads.parse_telemetry([good, bad, 7], NOW)
    assert len(records) == 1
    assert [error.reason for error in errors] == ["invalid_field", "not_an_object"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "invalid_json"),
        (b"\xc3\x28", "invalid_json"),
        (b'{"ts": NaN}', "non_finite_number"),
        (b'{"ts": -Infinity}', "non_finite_number"),
    ],
)
def test_decoding_refuses_what_is_not_strict_json(raw, reason):
    assert reason_of(lambda: payloads.decode_payload(raw)) == reason


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 3000 + b"]" * 3000, "payload_too_complex"),  # beyond orjson's own depth limit
        (nested(3000), "payload_too_complex"),
        (nested(1000), "payload_too_complex"),  # orjson reads it; reading it back later would recurse
        (nested(17), "payload_too_complex"),  # one level past MQTT_MAX_JSON_DEPTH
        (b'{"ts": 1764000000, "x": "\\ud800"}', "invalid_text"),  # only the standard parser reads it
        (b'{"ts": 1764000000, "x": "a\\u0000b"}', "invalid_text"),
        (b'{"ts": 1764000000, "a\\u0000": 1}', "invalid_text"),  # keys too
        (b'{"ts": 1764000000, "\\udfff": 1}', "invalid_text"),
        (b'{"ts": 1764000000, "x": [' + b",".join([b"1"] * 600) + b"]}", "payload_too_complex"),
        (b"{" + b",".join(b'"k%d": 1' % n for n in range(600)) + b"}", "payload_too_complex"),
        (b"[" * 1500 + b"]" * 1499, "payload_too_complex"),  # broken and deep: refused for its depth first
    ],
    ids=lambda value: value.decode(errors="replace")[:40] if isinstance(value, bytes) else value,
)
def test_decoding_refuses_documents_of_a_shape_storage_or_readers_cannot_take(raw, reason):
    assert reason_of(lambda: payloads.decode_payload(raw, limit=1 << 20)) == reason


@pytest.mark.parametrize(
    ("raw", "document"),
    [
        # Refused by orjson, read by the standard parser: the document is the standard parser's.
        (b'"\\u00e9\\ud83d\\ude00"', "\u00e9\U0001f600"),
        (b'{"a": 1e999}', {"a": math.inf}),  # refused later as non_finite_number by the field checks
        (b'{"a": 1' + b"0" * 400 + b"}", {"a": 10**400}),  # refused later as out of range
        # Read by orjson as the nearest float (docstring of decode_payload).
        (b'{"a": 123456789012345678901234567890}', {"a": 1.2345678901234568e29}),
    ],
)
def test_documents_only_the_standard_parser_reads_are_read_as_it_reads_them(raw, document):
    assert payloads.decode_payload(raw) == document


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=())),  # NUL and lone surrogates included
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def breaks_shape_rules(value, depth: int = 1) -> bool:
    """The shape rules of payloads.check_shape, restated recursively as the test's own oracle."""
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, dict | list):
        members = list(value.items()) if isinstance(value, dict) else [(None, item) for item in value]
        return (
            depth > settings.MQTT_MAX_JSON_DEPTH
            or len(members) > settings.MQTT_MAX_JSON_MEMBERS
            or any(key is not None and breaks_shape_rules(key) for key, _ in members)
            or any(breaks_shape_rules(item, depth + 1) for _, item in members)
        )
    return False


@hypothesis_settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_decoding_agrees_with_the_standard_parser_or_names_the_shape_rule(value):
    raw = json.dumps(value).encode()
    expected = json.loads(raw)
    try:
        document = payloads.decode_payload(raw, limit=1 << 20)
    except payloads.PayloadError as exc:
        assert exc.reason in ("payload_too_complex", "invalid_text")
        assert breaks_shape_rules(expected)
    else:
        assert document == expected
        assert not breaks_shape_rules(expected)


def test_a_reading_beyond_float_range_is_refused_and_a_large_one_is_kept():
    assert reason_of(lambda: payloads.parse_telemetry_record(messages.reading(time.time(), pt=10**400), NOW)) == (
        "invalid_field"
    )
    assert payloads.parse_telemetry_record(messages.reading(time.time(), pt=10**20), NOW)["record"]["pt"] == 10**20


def test_seq_is_refused_beyond_the_integer_column_it_is_stored_in():
    assert payloads.parse_telemetry_record(messages.reading(time.time(), seq=2**31 - 1), NOW)["seq"] == 2**31 - 1
    too_large = messages.reading(time.time(), seq=2**31)
    assert reason_of(lambda: payloads.parse_telemetry_record(too_large, NOW)) == "invalid_field"
    raw = json.dumps(too_large).encode()
    assert reason_of(lambda: payloads.decode_telemetry(raw, NOW, time.time() + 60)) == "invalid_field"


def test_oversize_payload_is_refused_before_parsing(settings):
    settings.MQTT_MAX_PAYLOAD_BYTES = 10
    assert reason_of(lambda: payloads.decode_payload(b'{"ts": 1764000000}')) == "payload_too_large"


def test_future_allowance_is_configurable(settings):
    settings.MQTT_MAX_FUTURE_SECONDS = 60
    assert reason_of(lambda: payloads.parse_ts(time.time() + 120)) == "ts_in_future"
    assert payloads.parse_ts(time.time() + 30) is not None


def test_registration_checks_id_format_and_topic():
    payload = messages.registration("ACV-AABBCCDDEEFF")
    assert payloads.parse_registration(payload, "ACV-AABBCCDDEEFF")["fw"] == "1.2.0"
    assert reason_of(lambda: payloads.parse_registration(payload, "ACV-AABBCCDDEE00")) == "device_id_mismatch"
    assert reason_of(lambda: payloads.parse_registration({"device_id": "ACV-+"})) == "invalid_device_id"
    assert reason_of(lambda: payloads.parse_registration({"fw": "1"})) == "missing_field"
    too_long = messages.registration("ACV-AABBCCDDEEFF", hw="x" * 65)
    assert reason_of(lambda: payloads.parse_registration(too_long)) == "invalid_field"


def test_heartbeat_nested_objects_and_ip_are_checked():
    beat = payloads.parse_heartbeat(messages.heartbeat())
    assert beat["sd"]["free_kb"] == 3800000 and isinstance(beat["ts"], datetime)
    assert reason_of(lambda: payloads.parse_heartbeat(messages.heartbeat(ip="10.0.0.300"))) == "invalid_field"
    assert reason_of(lambda: payloads.parse_heartbeat(messages.heartbeat(sd={"queued": -1}))) == "invalid_field"
    assert reason_of(lambda: payloads.parse_heartbeat(messages.heartbeat(ota={"state": "x"}))) == "invalid_field"


def test_response_and_alert_enumerations():
    answer = {"req": "r1", "cmd": "ota_update", "status": "progress", "stage": "downloading", "progress": 45}
    assert payloads.parse_response(answer)["progress"] == 45
    assert reason_of(lambda: payloads.parse_response({**answer, "status": "done"})) == "invalid_field"
    assert reason_of(lambda: payloads.parse_response({**answer, "progress": 101})) == "invalid_field"
    alert = {"type": "overvoltage", "sev": "critical", "state": "raised", "val": 260}
    assert payloads.parse_alert(alert)["val"] == 260
    assert reason_of(lambda: payloads.parse_alert({**alert, "sev": "fatal"})) == "invalid_field"


def test_topics_round_trip_and_refuse_foreign_shapes(settings):
    settings.MQTT_TOPIC_PREFIX = "plant7"
    assert command_topic("ACV-AABBCCDDEEFF") == "plant7/ACV-AABBCCDDEEFF/cmd"
    assert parse_topic("plant7/ACV-AABBCCDDEEFF/heartbeat").kind == TopicKind.HEARTBEAT
    assert parse_topic("devices/register").device_id is None
    for topic in (
        "acuvim/ACV-AABBCCDDEEFF/heartbeat",
        "plant7/ACV-AABBCCDDEEFF/cmd",
        "plant7/x",
        "devices/register/a/b",
    ):
        with pytest.raises(TopicError):
            parse_topic(topic)
    assert all(f.startswith("$share/g1/") for f in subscription_filters("g1"))
    assert "plant7/+/telemetry" in subscription_filters()


def test_rejection_lines_are_capped_per_second_but_every_rejection_is_counted(caplog):
    from acuvim_console.bridge.rejections import _LogBudget, report_rejection
    from tests.support.metrics import metrics

    metrics.reset()
    for _ in range(50):
        report_rejection("ACV-AABBCCDDEEFF", "acuvim/ACV-AABBCCDDEEFF/telemetry", "invalid_json", "broken")
    assert metrics.snapshot()["rejected"] == {"invalid_json": 50}
    assert sum("reason=invalid_json" in r.getMessage() for r in caplog.records) <= 20
    budget = _LogBudget(per_second=2)
    assert [budget.allow() for _ in range(3)] == [True, True, False]


TELEMETRY_NAMES = ["ts", "seq", "src", "conn", "v1", "pft", "ep_imp", "thd_i3", "note"]
TELEMETRY_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1.6e9, max_value=1.9e9)  # plausible epoch seconds
    | st.sampled_from(["live", "sd", "wifi", "gsm", "", "LIVE", "230.1"])
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2)
)
TELEMETRY_RECORDS = st.dictionaries(st.sampled_from(TELEMETRY_NAMES), TELEMETRY_VALUES)


def outcome(work):
    """What a parse produced, comparable across the two paths: the values, or the refusal."""
    try:
        document, records, errors = work()
    except PayloadError as exc:
        return ("refused", exc.reason, exc.message)
    return ("parsed", document, records, [(error.reason, error.message) for error in errors])


@hypothesis_settings(max_examples=500, deadline=None)
@given(TELEMETRY_RECORDS | st.lists(TELEMETRY_RECORDS, max_size=4))
def test_the_typed_telemetry_path_decides_exactly_as_the_hand_written_rules(document):
    raw = json.dumps(document).encode()
    latest = time.time() + 3600
    fast = outcome(lambda: payloads.decode_telemetry(raw, NOW, latest))

    def by_hand():
        decoded = payloads.decode_payload(raw)
        return decoded, *payloads.parse_telemetry(decoded, NOW, latest)

    assert fast == outcome(by_hand)
