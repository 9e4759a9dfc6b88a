"""What each of the 20 gateway commands accepts (shared/protocol.md, "Commands"), checked before anything is sent.

A command the firmware would refuse is refused here first, with an error per parameter, so an operator
sees "count: must be 1-125" in the admin instead of waiting for the device's `invalid_param` answer.
Commands that change part of the config document are checked by the config validator itself, so a
setting is judged the same way whether it arrives by `set_config` or by its own command.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from devices.choices import CommandName, TransportMode
from devices.configs import InvalidConfig, has_json_type, validate_config


class CommandValidationError(ValueError):
    """A command or its parameters are not acceptable; `errors` maps a parameter (or "command") to why."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True)
class Param:
    """One parameter: its JSON type, whether it must be present, and the values allowed."""

    kind: type
    required: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    pattern: str | None = None
    message: str = ""

    def problem(self, value: object) -> str | None:
        if not has_json_type(value, self.kind):
            return f"must be {_TYPE_NAMES[self.kind]}"
        if self.choices and value not in self.choices:
            return self.message or f"must be one of {', '.join(map(str, self.choices))}"
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return self.message or f"must be from {self.low} to {self.high}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return self.message or "has an invalid format"
        return None


_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class CommandSpec:
    """The parameters of one command and the checks that span several of them."""

    params: dict[str, Param] = field(default_factory=dict)
    needs_some_param: bool = False
    check: Callable[[dict], dict[str, str]] | None = None
    free_form: bool = False  # set_config: the params are a partial config document, judged by `check` alone
    timeout_setting: str = "COMMAND_TIMEOUT_SECONDS"


_CONFIRM = {
    "confirm": Param(
        bool, required=True, choices=(True,), message="must be true: this command erases data on the device"
    )
}


def _as_config(to_document: Callable[[dict], dict], paths: dict[str, str]) -> Callable[[dict], dict[str, str]]:
    """Judge params by the config validator, naming each problem after the parameter it came from."""

    def check(params: dict) -> dict[str, str]:
        try:
            validate_config(to_document(params), partial=True)
        except InvalidConfig as exc:
            return {paths.get(path, path): message for path, message in exc.errors.items()}
        return {}

    return check


def _check_set_config(params: dict) -> dict[str, str]:
    if not params:
        return {"params": "must contain at least one config section"}
    try:
        validate_config(params, partial=True)
    except InvalidConfig as exc:
        return dict(exc.errors)
    return {}


def _check_modbus_read(params: dict) -> dict[str, str]:
    if params["addr"] + params["count"] > 0x10000:
        return {"count": "reads past register 65535"}
    return {}


_SECONDS = {"low": 1, "high": 86400}

SPECS: dict[str, CommandSpec] = {
    CommandName.PING: CommandSpec(),
    CommandName.GET_STATUS: CommandSpec(),
    CommandName.GET_CONFIG: CommandSpec(),
    CommandName.SET_CONFIG: CommandSpec(free_form=True, check=_check_set_config),
    CommandName.RESTART: CommandSpec(params={"delay_s": Param(int, low=0, high=3600)}),
    CommandName.FACTORY_RESET: CommandSpec(params=_CONFIRM),
    CommandName.WIFI_SCAN: CommandSpec(),
    CommandName.GSM_STATUS: CommandSpec(),
    CommandName.SET_TRANSPORT: CommandSpec(
        params={"mode": Param(str, required=True, choices=tuple(TransportMode.values))}
    ),
    CommandName.OTA_UPDATE: CommandSpec(
        params={
            "url": Param(str, required=True, pattern=r"https?://\S+", message="must be an http(s) URL"),
            "version": Param(str, required=True, pattern=r"[0-9A-Za-z.+_-]{1,31}", message="must be a version"),
            "sha256": Param(str, required=True, pattern=r"[0-9a-f]{64}", message="must be 64 lower-case hex digits"),
            "size": Param(int, required=True, low=1, high=16 * 1024 * 1024),
            "mandatory": Param(bool),
            "allow_downgrade": Param(bool),  # our extension: the deploy lets the gateway go back to an older image
        },
        timeout_setting="OTA_COMMAND_TIMEOUT_SECONDS",
    ),
    CommandName.OTA_ROLLBACK: CommandSpec(),
    CommandName.MODBUS_READ: CommandSpec(
        params={
            "addr": Param(int, required=True, low=0, high=0xFFFF),
            "count": Param(int, required=True, low=1, high=125),
            "fc": Param(int, choices=(3, 4), message="must be 3 (holding) or 4 (input registers)"),
        },
        check=_check_modbus_read,
    ),
    CommandName.SET_METER: CommandSpec(
        params={"addr": Param(int), "baud": Param(int), "parity": Param(str)},
        needs_some_param=True,
        check=_as_config(lambda p: {"modbus": p}, {f"modbus.{key}": key for key in ("addr", "baud", "parity")}),
    ),
    CommandName.SD_STATUS: CommandSpec(),
    CommandName.SD_CLEAR: CommandSpec(params=_CONFIRM),
    CommandName.SYNC_TIME: CommandSpec(params={"ts": Param(float, low=1_500_000_000, high=4_102_444_800)}),
    CommandName.GET_LOGS: CommandSpec(params={"lines": Param(int, low=1, high=500)}),
    CommandName.SET_LOG_LEVEL: CommandSpec(
        params={"level": Param(str, required=True)},
        check=_as_config(lambda p: {"log_level": p["level"]}, {"log_level": "level"}),
    ),
    CommandName.SET_INTERVALS: CommandSpec(
        params={
            "poll_s": Param(int, low=1, high=3600),
            "telemetry_s": Param(int, **_SECONDS),
            "telemetry_gsm_s": Param(int, **_SECONDS),
            "heartbeat_s": Param(int, low=10, high=3600),
        },
        needs_some_param=True,
    ),
    CommandName.CLEAR_ENERGY: CommandSpec(params=_CONFIRM),
}


# Commands no operator sends by hand: an `ota_update` with any URL and hash would skip the image upload,
# its validation and every rollout safeguard, so only a firmware deploy (firmware.rollouts) sends it.
FIRMWARE_DEPLOY_ONLY = frozenset({CommandName.OTA_UPDATE})
FIRMWARE_DEPLOY_ONLY_REASON = (
    "ota_update is sent only by a firmware deploy: upload the image (admin Firmware versions, or "
    "POST /api/firmware) and deploy it (the admin's deploy page, or POST /api/firmware/deploy)"
)
# What the admin's command forms, the API and manage.py send_command offer.
OPERATOR_COMMANDS = tuple(name for name in SPECS if name not in FIRMWARE_DEPLOY_ONLY)


def validate_command(command: object, params: object) -> dict:
    """Return the params to send (never None) or raise CommandValidationError listing every problem."""
    spec = SPECS.get(command) if isinstance(command, str) else None
    if spec is None:
        raise CommandValidationError({"command": f"unknown command {command!r}; known: {', '.join(SPECS)}"})
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise CommandValidationError({"params": "must be a JSON object"})
    errors = {} if spec.free_form else _param_errors(spec, params)
    if not errors and spec.check:
        errors = spec.check(params)
    if errors:
        raise CommandValidationError(errors)
    return params


def _param_errors(spec: CommandSpec, params: dict) -> dict[str, str]:
    errors = {}
    for name, value in params.items():
        param = spec.params.get(name)
        if param is None:
            allowed = ", ".join(spec.params) or "none"
            errors[name] = f"unknown parameter (allowed: {allowed})"
        elif (problem := param.problem(value)) is not None:
            errors[name] = problem
    for name, param in spec.params.items():
        if param.required and name not in params:
            errors[name] = "is required"
    if spec.needs_some_param and not params:
        errors["params"] = f"give at least one of {', '.join(spec.params)}"
    return errors


def command_timeout(command: str) -> int:
    """Seconds to wait for a final answer once sent; OTA takes a download, a reboot and a self-test."""
    return int(getattr(settings, SPECS[command].timeout_setting))
