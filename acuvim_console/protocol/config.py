"""The gateway configuration document: canonical hashing, secret redaction and validation.

The hash must match the firmware's byte for byte (sorted keys, no spaces, UTF-8), because drift is
shown by comparing the desired config's hash with the `cfg` hash a device reports in heartbeats.
"""

import hashlib
import json

from acuvim_console.protocol.enums import TransportMode
from acuvim_console.protocol.schema import Field

# A key is secret when its name contains one of these, in any case and at any depth: devices name their
# secrets freely (`psk`, `mqtt.pass`, `console_token`, `apiKey`), so a list of exact names leaks.
SECRET_KEY_PARTS = ("pass", "psk", "secret", "token", "key", "pin")
REDACTED = "***"
# Known secret values shorter than this are not searched for inside other strings (too many false hits).
MIN_KNOWN_SECRET_LENGTH = 4

_BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400)
_PARITIES = ("8N1", "8E1", "8O1", "8N2")
_LOG_LEVELS = ("debug", "info", "warning", "error")
_INTERVAL = Field("int", low=1, high=86400, message="must be 1-86400 s")
_TEXT = Field("str")
_LIMIT = Field("number")

# The config document: its sections and their settings, and the settings at the top level.
SECTIONS = {
    "wifi": {"ssid": _TEXT, "password": _TEXT},
    "gsm": {"apn": _TEXT, "user": _TEXT, "password": _TEXT, "pin": _TEXT},
    "mqtt": {
        "host": _TEXT,
        "port": Field("int", low=1, high=65535, message="must be a TCP port from 1 to 65535"),
        "tls": Field("bool"),
        "user": _TEXT,
        "password": _TEXT,
    },
    "transport": {"mode": Field("str", choices=tuple(TransportMode.values))},
    "modbus": {
        "addr": Field("int", low=1, high=247, message="must be a Modbus address from 1 to 247"),
        "baud": Field("int", choices=_BAUD_RATES),
        "parity": Field("str", choices=_PARITIES),
        "poll_s": Field("int"),
    },
    "intervals": {"telemetry_s": _INTERVAL, "telemetry_gsm_s": _INTERVAL, "heartbeat_s": _INTERVAL},
    "thresholds": {"v_max": _LIMIT, "v_min": _LIMIT, "i_max": _LIMIT, "f_dev": _LIMIT, "pf_min": _LIMIT},
}
TOP_LEVEL = {"console_url": _TEXT, "log_level": Field("str", choices=_LOG_LEVELS)}


class InvalidConfig(ValueError):
    """A config document the firmware would refuse; `errors` maps dotted paths to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in errors.items()))


def canonical_json(document: dict) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(document: dict) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and any(part in key.lower() for part in SECRET_KEY_PARTS)


def secret_values(document) -> set[str]:
    """Every non-empty string stored under a secret key of `document`, at any depth."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if is_secret_key(key) and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= secret_values(value)
    elif isinstance(document, list):
        for item in document:
            found |= secret_values(item)
    return found


def redact_secrets(document, known_secrets: frozenset[str] | set[str] = frozenset()):
    """Copy of a document with every secret replaced by '***' (empty secrets stay empty).

    Secret keys (is_secret_key) lose their values whatever they hold; any other string has each of the
    `known_secrets` it contains masked, so an error message quoting a password does not carry it.
    """
    if isinstance(document, dict):
        return {
            key: (REDACTED if is_secret_key(key) and value else redact_secrets(value, known_secrets))
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [redact_secrets(item, known_secrets) for item in document]
    if isinstance(document, str) and known_secrets:
        return mask_known_secrets(document, known_secrets)
    return document


def mask_known_secrets(text: str, known_secrets) -> str:
    for secret in sorted(known_secrets, key=len, reverse=True):
        if secret == text or (len(secret) >= MIN_KNOWN_SECRET_LENGTH and secret in text):
            text = text.replace(secret, REDACTED)
    return text


def merge_config(current: dict, changes: dict) -> dict:
    """Apply a partial config on top of the current one, section by section.

    A secret sent back as '***' (as read from a redacted view) keeps its stored value.
    """
    merged = json.loads(json.dumps(current))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            for inner_key, inner_value in value.items():
                if is_secret_key(inner_key) and inner_value == REDACTED:
                    continue
                merged[key][inner_key] = inner_value
        else:
            merged[key] = value
    return merged


def validate_config(document: object, partial: bool = False) -> None:
    """Raise InvalidConfig listing every problem; `partial` allows sections and keys to be missing."""
    if not isinstance(document, dict):
        raise InvalidConfig({"": "must be a JSON object"})
    errors: dict[str, str] = {}
    for key, value in document.items():
        if key in SECTIONS:
            _validate_section(key, value, errors)
        elif key in TOP_LEVEL:
            if (problem := TOP_LEVEL[key].problem(value)) is not None:
                errors[key] = problem
        else:
            errors[key] = "unknown setting"
    if not partial:
        for key in SECTIONS:
            if key not in document:
                errors.setdefault(key, "missing")
    if errors:
        raise InvalidConfig(errors)


def _validate_section(section: str, value: object, errors: dict[str, str]) -> None:
    if not isinstance(value, dict):
        errors[section] = "must be an object"
        return
    settings = SECTIONS[section]
    for key, item in value.items():
        path = f"{section}.{key}"
        setting = settings.get(key)
        if setting is None:
            errors[path] = "unknown setting"
        elif (problem := setting.problem(item)) is not None:
            errors[path] = problem


DEFAULT_CONFIG = {
    "wifi": {"ssid": "", "password": ""},
    "gsm": {"apn": "internet", "user": "", "password": "", "pin": ""},
    "mqtt": {"host": "", "port": 1883, "tls": False, "user": "", "password": ""},
    "transport": {"mode": TransportMode.WIFI_PREFERRED.value},
    "modbus": {"addr": 1, "baud": 19200, "parity": "8N1", "poll_s": 5},
    "intervals": {"telemetry_s": 5, "telemetry_gsm_s": 30, "heartbeat_s": 60},
    "thresholds": {"v_max": 253.0, "v_min": 207.0, "i_max": 100.0, "f_dev": 0.5, "pf_min": 0.85},
    "console_url": "",
    "log_level": "info",
}
