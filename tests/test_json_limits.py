"""acuvim_console.core.json_limits: what is refused, why, and that nothing in it recurses."""

import pytest

from acuvim_console.core import json_limits
from acuvim_console.core.json_limits import MAX_DEPTH, MAX_OBJECT_KEYS, JsonRefusal, JsonRefused


def nested_text(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (nested_text(MAX_DEPTH + 1), JsonRefusal.TOO_DEEP),
        ("[" * 1_000_000 + "]" * 1_000_000, JsonRefusal.TOO_DEEP),  # past orjson's own limit: same answer
        ("{" + ",".join(f'"k{i}":1' for i in range(MAX_OBJECT_KEYS + 1)) + "}", JsonRefusal.TOO_MANY_KEYS),
        ('{"a": "x\\u0000y"}', JsonRefusal.NUL_CHARACTER),
        ('{"x\\u0000": 1}', JsonRefusal.NUL_CHARACTER),
        ('["\\ud800"]', JsonRefusal.LONE_SURROGATE),
        ('["\\udc00 alone"]', JsonRefusal.LONE_SURROGATE),
        ("not json", JsonRefusal.INVALID),
        ("[NaN]", JsonRefusal.INVALID),
        (b'"\xff"', JsonRefusal.INVALID),
        ("", JsonRefusal.INVALID),
    ],
)
def test_documents_beyond_a_bound_are_refused_with_their_reason(raw, reason):
    with pytest.raises(JsonRefused) as refused:
        json_limits.loads(raw)
    assert refused.value.reason == reason
    assert refused.value.message


def test_documents_within_the_bounds_come_back_whole():
    at_the_bound = nested_text(MAX_DEPTH)
    assert json_limits.loads(at_the_bound) is not None
    wide = {f"k{i}": i for i in range(MAX_OBJECT_KEYS)}
    assert json_limits.loads(str(wide).replace("'", '"')) == wide
    assert json_limits.loads('{"emoji": "\\ud83d\\ude00", "big": 9223372036854775807}') == {
        "emoji": "\U0001f600",
        "big": 2**63 - 1,
    }
    assert json_limits.loads('["' + "é" * 100_000 + '"]') == ["é" * 100_000]


def test_an_already_parsed_document_of_any_depth_is_checked_without_recursion():
    document: list = []
    for _ in range(100_000):
        document = [document]
    with pytest.raises(JsonRefused, match="nested deeper"):
        json_limits.check_document(document)
    with pytest.raises(JsonRefused, match="lone surrogate"):
        json_limits.check_document({"a": ["\ud800"]})


def test_stored_documents_that_cannot_be_shown_come_back_as_a_placeholder_with_their_text():
    deep = nested_text(1000)
    shown = json_limits.loads_stored(deep)
    assert shown[json_limits.UNREADABLE_KEY].startswith("JSON nested deeper")
    assert shown[json_limits.STORED_TEXT_KEY] == deep[: json_limits.STORED_TEXT_PREVIEW_CHARS]
    assert json_limits.loads_stored('{"x": "\\ud800"}')[json_limits.STORED_TEXT_KEY] == '{"x": "\\ud800"}'
    # What only storage cares about does not hide a stored record.
    assert json_limits.loads_stored('{"x": "a\\u0000"}') == {"x": "a\x00"}
    many = {f"k{i}": i for i in range(MAX_OBJECT_KEYS * 2)}
    assert json_limits.loads_stored(str(many).replace("'", '"')) == many


def test_what_the_bridge_accepts_reads_back_whole_even_with_a_larger_bridge_bound(settings):
    settings.MQTT_MAX_JSON_DEPTH = MAX_DEPTH * 2
    deeper_than_requests_may_be = nested_text(MAX_DEPTH * 2)
    assert json_limits.loads_stored(deeper_than_requests_may_be) == json_limits.loads(
        deeper_than_requests_may_be, max_depth=MAX_DEPTH * 2
    )
