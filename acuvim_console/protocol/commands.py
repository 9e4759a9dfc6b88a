"""The 20 gateway commands on the wire (docs/mqtt-protocol.md, "Commands"): what each accepts, checked before
anything is sent, and the message that carries one (the names are protocol.enums.CommandName, the topic
protocol.topics.command_topic, the answers protocol.payloads.parse_response).

A command the firmware would refuse is refused here first, with an error per parameter, so an operator
sees "count: must be 1-125" in the admin instead of waiting for the device's `invalid_param` answer.
Commands that change part of the config document are checked by the config validator itself, so a
setting is judged the same way whether it arrives by `set_config` or by its own command.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from acuvim_console.protocol.config import InvalidConfig, validate_config
from acuvim_console.protocol.enums import CommandName, TransportMode
from acuvim_console.protocol.schema import Field


class CommandValidationError(ValueError):
    """A command or its parameters are not acceptable; `errors` maps a parameter (or "command") to why."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True)
class CommandSpec:
    """The parameters of one command and the checks that span several of them."""

    params: dict[str, Field] = field(default_factory=dict)
    needs_some_param: bool = False
    check: Callable[[dict], dict[str, str]] | None = None
    free_form: bool = False  # set_config: the params are a partial config document, judged by `check` alone
    timeout_setting: str = "COMMAND_TIMEOUT_SECONDS"


_CONFIRM = {
    "confirm": Field(
        "bool", required=True, choices=(True,), message="must be true: this command erases data on the device"
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
    CommandName.RESTART: CommandSpec(params={"delay_s": Field("int", low=0, high=3600)}),
    CommandName.FACTORY_RESET: CommandSpec(params=_CONFIRM),
    CommandName.WIFI_SCAN: CommandSpec(),
    CommandName.GSM_STATUS: CommandSpec(),
    CommandName.SET_TRANSPORT: CommandSpec(
        params={"mode": Field("str", required=True, choices=tuple(TransportMode.values))}
    ),
    CommandName.OTA_UPDATE: CommandSpec(
        params={
            "url": Field("str", required=True, pattern=r"https?://\S+", message="must be an http(s) URL"),
            "version": Field("str", required=True, pattern=r"[0-9A-Za-z.+_-]{1,31}", message="must be a version"),
            "sha256": Field("str", required=True, pattern=r"[0-9a-f]{64}", message="must be 64 lower-case hex digits"),
            "size": Field("int", required=True, low=1, high=16 * 1024 * 1024),
            "mandatory": Field("bool"),
            "allow_downgrade": Field("bool"),  # our extension: the deploy lets the gateway go back to an older image
        },
        timeout_setting="OTA_COMMAND_TIMEOUT_SECONDS",
    ),
    CommandName.OTA_ROLLBACK: CommandSpec(),
    CommandName.MODBUS_READ: CommandSpec(
        params={
            "addr": Field("int", required=True, low=0, high=0xFFFF),
            "count": Field("int", required=True, low=1, high=125),
            "fc": Field("int", choices=(3, 4), message="must be 3 (holding) or 4 (input registers)"),
        },
        check=_check_modbus_read,
    ),
    CommandName.SET_METER: CommandSpec(
        params={"addr": Field("int"), "baud": Field("int"), "parity": Field("str")},
        needs_some_param=True,
        check=_as_config(lambda p: {"modbus": p}, {f"modbus.{key}": key for key in ("addr", "baud", "parity")}),
    ),
    CommandName.SD_STATUS: CommandSpec(),
    CommandName.SD_CLEAR: CommandSpec(params=_CONFIRM),
    CommandName.SYNC_TIME: CommandSpec(params={"ts": Field("number", low=1_500_000_000, high=4_102_444_800)}),
    CommandName.GET_LOGS: CommandSpec(params={"lines": Field("int", low=1, high=500)}),
    CommandName.SET_LOG_LEVEL: CommandSpec(
        params={"level": Field("str", required=True)},
        check=_as_config(lambda p: {"log_level": p["level"]}, {"log_level": "level"}),
    ),
    CommandName.SET_INTERVALS: CommandSpec(
        params={
            "poll_s": Field("int", low=1, high=3600),
            "telemetry_s": Field("int", **_SECONDS),
            "telemetry_gsm_s": Field("int", **_SECONDS),
            "heartbeat_s": Field("int", low=10, high=3600),
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


def command_message(request_id: str, command: str, params: dict, sent_at: datetime, expires_at: datetime) -> dict:
    """A command as it goes to `acuvim/{id}/cmd`; `exp` lets the device refuse one that waited too long."""
    return {
        "req": request_id,
        "cmd": command,
        "params": params,
        "ts": int(sent_at.timestamp()),
        "exp": int(expires_at.timestamp()),
    }


def command_timeout(command: str) -> int:
    """Seconds to wait for a final answer once sent; OTA takes a download, a reboot and a self-test."""
    return int(getattr(settings, SPECS[command].timeout_setting))
