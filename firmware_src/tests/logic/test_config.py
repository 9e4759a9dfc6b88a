"""Config defaults, validation, partial updates, secrets and the canonical hash."""

from firmware_src.device import config
from firmware_src.device.canonical import canonical_json, sha256_hex
from firmware_src.device.nvs import JsonNvs
from firmware_src.tests.logic.support import TempDir, raises


def test_defaults_are_valid_but_not_provisioned():
    doc = config.defaults()
    config.validate(doc)
    assert not config.is_provisioned(doc)


def test_every_problem_is_reported_with_its_path():
    doc = config.defaults()
    doc["modbus"]["baud"] = 12345
    doc["mqtt"]["port"] = "1883"
    doc["transport"]["mode"] = "carrier_pigeon"
    doc["extra"] = 1
    error = raises(config.ConfigError, config.validate, doc)
    assert sorted(error.errors.keys()) == ["extra", "modbus.baud", "mqtt.port", "transport.mode"]
    assert "must be one of" in error.errors["modbus.baud"]


def test_partial_update_may_omit_sections_but_not_break_types():
    config.validate({"intervals": {"heartbeat_s": 30}}, partial=True)
    raises(config.ConfigError, config.validate, {"intervals": {"heartbeat_s": 0}}, True)
    raises(config.ConfigError, config.validate, {"intervals": {"heartbeat_s": True}}, True)
    raises(config.ConfigError, config.validate, {"intervals": {"heartbeat_s": 30}}, False)


def test_redacted_secret_sent_back_keeps_the_stored_one():
    current = config.defaults()
    current["wifi"]["password"] = "hunter2"
    shown = config.redact(current)
    assert shown["wifi"]["password"] == "***" and shown["gsm"]["password"] == ""
    merged = config.merge(current, {"wifi": {"ssid": "Plant-B", "password": "***"}})
    assert merged["wifi"] == {"ssid": "Plant-B", "password": "hunter2"}


def test_canonical_json_sorts_keys_without_spaces_and_keeps_utf8():
    text = canonical_json({"b": [1, 2.5, None, True], "a": {"z": "é\"\n", "y": 0.85}})
    assert text == '{"a":{"y":0.85,"z":"é\\"\\n"},"b":[1,2.5,null,true]}'


def test_hash_is_sha256_of_the_canonical_form():
    doc = config.defaults()
    assert config.config_hash(doc) == sha256_hex(canonical_json(doc))
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    other = config.merge(doc, {"intervals": {"heartbeat_s": 61}})
    assert config.config_hash(other) != config.config_hash(doc)


def test_only_network_sections_need_a_restart():
    doc = config.defaults()
    assert not config.needs_restart(doc, config.merge(doc, {"intervals": {"telemetry_s": 10}}))
    assert config.needs_restart(doc, config.merge(doc, {"mqtt": {"host": "broker"}}))


def test_store_persists_applied_changes_and_ignores_a_corrupt_document():
    with TempDir() as path:
        store = config.ConfigStore(JsonNvs(path + "/nvs.json"))
        _, restart = store.apply({"wifi": {"ssid": "Plant-A"}, "mqtt": {"host": "broker.local"}})
        assert restart
        again = config.ConfigStore(JsonNvs(path + "/nvs.json"))
        assert again.current["mqtt"]["host"] == "broker.local"
        assert config.is_provisioned(again.current)
        assert again.hash() == store.hash()
        raises(config.ConfigError, store.apply, {"modbus": {"addr": 300}})
        assert store.current["modbus"]["addr"] == 1
        nvs = JsonNvs(path + "/nvs.json")
        nvs.set("cfg", {"modbus": {"addr": "broken"}})
        assert config.ConfigStore(nvs).current == config.defaults()
