"""The gateway configuration document: canonical hashing, secret redaction and validation.

The hash must match the firmware's byte for byte (sorted keys, no spaces, UTF-8), because drift is
shown by comparing the desired config's hash with the `cfg` hash a device reports in heartbeats.
"""

import hashlib
import json

from acuvim_console.protocol.enums import TransportMode

# A key is secret when its name contains one of these, in any case and at any depth: devices name their
# secrets freely (`psk`, `mqtt.pass`, `console_token`, `apiKey`), so a list of exact names leaks.
SECRET_KEY_PARTS = ("pass", "psk", "secret", "token", "key", "pin")
REDACTED = "***"
# Known secret values shorter than this are not searched for inside other strings (too many false hits).
MIN_KNOWN_SECRET_LENGTH = 4

_SECTIONS = {
    "wifi": {"ssid": str, "password": str},
    "gsm": {"apn": str, "user": str, "password": str, "pin": str},
    "mqtt": {"host": str, "port": int, "tls": bool, "user": str, "password": str},
    "transport": {"mode": str},
    "modbus": {"addr": int, "baud": int, "parity": str, "poll_s": int},
    "intervals": {"telemetry_s": int, "telemetry_gsm_s": int, "heartbeat_s": int},
    "thresholds": {"v_max": float, "v_min": float, "i_max": float, "f_dev": float, "pf_min": float},
}
_TOP_LEVEL = {"console_url": str, "log_level": str}
_BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400)
_PARITIES = ("8N1", "8E1", "8O1", "8N2")
_LOG_LEVELS = ("debug", "info", "warning", "error")
_INTERVAL_RANGE = (1, 86400)


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
        if key in _SECTIONS:
            _validate_section(key, value, errors)
        elif key in _TOP_LEVEL:
            if not isinstance(value, str):
                errors[key] = "must be a string"
        else:
            errors[key] = "unknown setting"
    if not partial:
        for key in _SECTIONS:
            if key not in document:
                errors.setdefault(key, "missing")
    _validate_values(document, errors)
    if errors:
        raise InvalidConfig(errors)


def _validate_section(section: str, value: object, errors: dict[str, str]) -> None:
    if not isinstance(value, dict):
        errors[section] = "must be an object"
        return
    schema = _SECTIONS[section]
    for key, item in value.items():
        path = f"{section}.{key}"
        expected = schema.get(key)
        if expected is None:
            errors[path] = "unknown setting"
        elif not has_json_type(item, expected):
            errors[path] = f"must be {'a number' if expected is float else 'a ' + expected.__name__}"


def has_json_type(value: object, expected: type) -> bool:
    """Whether a decoded JSON value is of `expected`: true/false is not a number (bool is an int in Python),
    and a whole number is a fine float."""
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def _validate_values(document: dict, errors: dict[str, str]) -> None:
    def value_of(section: str, key: str):
        section_value = document.get(section)
        return section_value.get(key) if isinstance(section_value, dict) else None

    def check(path: str, ok: bool, message: str) -> None:
        if path not in errors and not ok:
            errors[path] = message

    mode = value_of("transport", "mode")
    if mode is not None:
        check("transport.mode", mode in TransportMode.values, f"must be one of {', '.join(TransportMode.values)}")
    baud = value_of("modbus", "baud")
    if baud is not None:
        check("modbus.baud", baud in _BAUD_RATES, f"must be one of {', '.join(map(str, _BAUD_RATES))}")
    parity = value_of("modbus", "parity")
    if parity is not None:
        check("modbus.parity", parity in _PARITIES, f"must be one of {', '.join(_PARITIES)}")
    addr = value_of("modbus", "addr")
    if addr is not None:
        check("modbus.addr", isinstance(addr, int) and 1 <= addr <= 247, "must be a Modbus address from 1 to 247")
    port = value_of("mqtt", "port")
    if port is not None:
        check("mqtt.port", isinstance(port, int) and 1 <= port <= 65535, "must be a TCP port from 1 to 65535")
    for key in ("telemetry_s", "telemetry_gsm_s", "heartbeat_s"):
        seconds = value_of("intervals", key)
        if seconds is not None:
            low, high = _INTERVAL_RANGE
            check(f"intervals.{key}", isinstance(seconds, int) and low <= seconds <= high, f"must be {low}-{high} s")
    level = document.get("log_level")
    if isinstance(level, str):
        check("log_level", level in _LOG_LEVELS, f"must be one of {', '.join(_LOG_LEVELS)}")


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
