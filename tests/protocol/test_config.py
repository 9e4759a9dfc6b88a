import pytest

from acuvim_console.protocol.config import (
    DEFAULT_CONFIG,
    REDACTED,
    InvalidConfig,
    config_hash,
    merge_config,
    redact_secrets,
    validate_config,
)


def test_hash_is_the_sha256_of_sorted_compact_json():
    # Same document, different key order: same hash, as the firmware computes it.
    assert config_hash({"b": 1, "a": {"y": 2, "x": "é"}}) == config_hash({"a": {"x": "é", "y": 2}, "b": 1})
    assert config_hash({"a": 1}) == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"


def test_redaction_hides_every_non_empty_secret():
    document = merge_config(DEFAULT_CONFIG, {"wifi": {"password": "hunter2"}, "mqtt": {"password": "p"}})
    redacted = redact_secrets(document)
    assert redacted["wifi"]["password"] == REDACTED
    assert redacted["mqtt"]["password"] == REDACTED
    assert redacted["gsm"]["password"] == ""  # nothing to hide
    assert "hunter2" not in str(redacted)


def test_merging_a_redacted_secret_keeps_the_stored_one():
    stored = merge_config(DEFAULT_CONFIG, {"wifi": {"ssid": "Plant-A", "password": "hunter2"}})
    merged = merge_config(stored, {"wifi": {"ssid": "Plant-B", "password": REDACTED}})
    assert merged["wifi"] == {"ssid": "Plant-B", "password": "hunter2"}


def test_default_config_is_valid():
    validate_config(DEFAULT_CONFIG)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"modbus": {"baud": 12345}}, "modbus.baud"),
        ({"transport": {"mode": "carrier_pigeon"}}, "transport.mode"),
        ({"intervals": {"heartbeat_s": 0}}, "intervals.heartbeat_s"),
        ({"mqtt": {"port": "1883"}}, "mqtt.port"),
        ({"wifi": {"colour": "blue"}}, "wifi.colour"),
        ({"modbus": {"addr": True}}, "modbus.addr"),
        ({"thresholds": "high"}, "thresholds"),
    ],
)
def test_invalid_values_are_named_by_path(change, path):
    with pytest.raises(InvalidConfig) as excinfo:
        validate_config(change, partial=True)
    assert path in excinfo.value.errors
