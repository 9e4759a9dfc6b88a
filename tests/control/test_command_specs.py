"""Every command family refuses bad parameters with an error naming the parameter, before anything is sent."""

import pytest

from acuvim_console.protocol.commands import SPECS, CommandValidationError, command_timeout, validate_command
from acuvim_console.protocol.enums import CommandName

SHA = "ab" * 32


def errors_of(command, params):
    with pytest.raises(CommandValidationError) as caught:
        validate_command(command, params)
    return caught.value.errors


def test_every_protocol_command_has_a_spec():
    assert set(SPECS) == set(CommandName.values)
    assert len(SPECS) == 20


@pytest.mark.parametrize(
    "command, params",
    [
        ("ping", None),
        ("get_status", {}),
        ("set_config", {"modbus": {"baud": 9600}, "log_level": "debug"}),
        ("restart", {"delay_s": 5}),
        ("factory_reset", {"confirm": True}),
        ("set_transport", {"mode": "gsm_preferred"}),
        ("ota_update", {"url": "https://c.example/fw/1.3.0", "version": "1.3.0", "sha256": SHA, "size": 1024}),
        ("modbus_read", {"addr": 16384, "count": 10, "fc": 3}),
        ("set_meter", {"addr": 1, "baud": 19200, "parity": "8N1"}),
        ("sd_clear", {"confirm": True}),
        ("sync_time", {"ts": 1764000000}),
        ("get_logs", {"lines": 50}),
        ("set_log_level", {"level": "info"}),
        ("set_intervals", {"poll_s": 5, "telemetry_s": 5, "telemetry_gsm_s": 30, "heartbeat_s": 60}),
        ("clear_energy", {"confirm": True}),
    ],
)
def test_valid_params_pass_through_unchanged(command, params):
    assert validate_command(command, params) == (params or {})


def test_unknown_command_lists_the_known_ones():
    errors = errors_of("reboot_now", {})
    assert "unknown command 'reboot_now'" in errors["command"]
    assert "ping" in errors["command"]


def test_params_must_be_an_object():
    assert errors_of("ping", ["x"]) == {"params": "must be a JSON object"}


def test_commands_without_params_refuse_any():
    assert errors_of("wifi_scan", {"band": 5}) == {"band": "unknown parameter (allowed: none)"}


@pytest.mark.parametrize("command", ["factory_reset", "sd_clear", "clear_energy"])
def test_destructive_commands_need_confirm_true(command):
    assert errors_of(command, {}) == {"confirm": "is required"}
    assert "must be true" in errors_of(command, {"confirm": False})["confirm"]
    assert errors_of(command, {"confirm": "yes"})["confirm"] == "must be true or false"


def test_set_config_is_judged_by_the_config_validator():
    errors = errors_of("set_config", {"modbus": {"baud": 1234}, "wifi": {"colour": "red"}})
    assert errors["modbus.baud"].startswith("must be one of")
    assert errors["wifi.colour"] == "unknown setting"
    assert errors_of("set_config", {}) == {"params": "must contain at least one config section"}


def test_set_transport_modes():
    assert "wifi_only" in errors_of("set_transport", {"mode": "carrier_pigeon"})["mode"]
    assert errors_of("set_transport", {}) == {"mode": "is required"}


def test_set_intervals_ranges_and_needs_one_interval():
    errors = errors_of("set_intervals", {"heartbeat_s": 5, "poll_s": 0, "telemetry_s": 2.5})
    assert errors == {
        "heartbeat_s": "must be from 10 to 3600",
        "poll_s": "must be from 1 to 3600",
        "telemetry_s": "must be a whole number",
    }
    assert "give at least one of" in errors_of("set_intervals", {})["params"]


def test_modbus_read_address_count_and_function_code():
    errors = errors_of("modbus_read", {"addr": 70000, "count": 200, "fc": 16})
    assert set(errors) == {"addr", "count", "fc"}
    assert errors_of("modbus_read", {"count": 1}) == {"addr": "is required"}
    assert errors_of("modbus_read", {"addr": 65530, "count": 10}) == {"count": "reads past register 65535"}


def test_set_meter_uses_the_meter_settings_rules():
    errors = errors_of("set_meter", {"addr": 300, "parity": "7X9"})
    assert errors == {
        "addr": "must be a Modbus address from 1 to 247",
        "parity": "must be one of 8N1, 8E1, 8O1, 8N2",
    }
    assert errors_of("set_meter", {"baud": "fast"}) == {"baud": "must be a whole number"}


def test_ota_update_needs_a_complete_signed_image_description():
    errors = errors_of(
        "ota_update", {"url": "ftp://x", "sha256": "XYZ", "size": 0, "mandatory": "no", "allow_downgrade": 1}
    )
    assert errors == {
        "url": "must be an http(s) URL",
        "sha256": "must be 64 lower-case hex digits",
        "size": "must be from 1 to 16777216",
        "mandatory": "must be true or false",
        "allow_downgrade": "must be true or false",
        "version": "is required",
    }


def test_log_level_and_logs():
    assert errors_of("set_log_level", {"level": "loud"})["level"].startswith("must be one of")
    assert errors_of("get_logs", {"lines": 10_000}) == {"lines": "must be from 1 to 500"}
    assert errors_of("restart", {"delay_s": True}) == {"delay_s": "must be a whole number"}


def test_ota_commands_wait_longer(settings):
    settings.COMMAND_TIMEOUT_SECONDS = 60
    settings.OTA_COMMAND_TIMEOUT_SECONDS = 900
    assert command_timeout("ping") == 60
    assert command_timeout("ota_update") == 900
