"""The gateway config: defaults, validation, partial updates, secret redaction and the canonical hash.

Rules match the console's validation so a config the console accepts is one the device applies.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import json

from .canonical import canonical_json, sha256_hex
from .protocol import TransportMode

SECRET_KEYS = ("password", "pin", "token")
REDACTED = "***"
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400)
PARITIES = ("8N1", "8E1", "8O1", "8N2")
LOG_LEVELS = ("debug", "info", "warning", "error")
INTERVAL_MIN = 1
INTERVAL_MAX = 86400

_NUMBER = "number"
_SCHEMA = {
    "wifi": {"ssid": str, "password": str},
    "gsm": {"apn": str, "user": str, "password": str, "pin": str},
    "mqtt": {"host": str, "port": int, "tls": bool, "user": str, "password": str},
    "transport": {"mode": str},
    "modbus": {"addr": int, "baud": int, "parity": str, "poll_s": int},
    "intervals": {"telemetry_s": int, "telemetry_gsm_s": int, "heartbeat_s": int},
    "thresholds": {"v_max": _NUMBER, "v_min": _NUMBER, "i_max": _NUMBER, "f_dev": _NUMBER, "pf_min": _NUMBER},
}
_TOP_LEVEL = ("console_url", "log_level")
# Sections whose change needs the network stack brought up again.
RESTART_SECTIONS = ("wifi", "gsm", "mqtt")


def defaults():
    return {
        "wifi": {"ssid": "", "password": ""},
        "gsm": {"apn": "internet", "user": "", "password": "", "pin": ""},
        "mqtt": {"host": "", "port": 1883, "tls": False, "user": "", "password": ""},
        "transport": {"mode": TransportMode.WIFI_PREFERRED},
        "modbus": {"addr": 1, "baud": 19200, "parity": "8N1", "poll_s": 5},
        "intervals": {"telemetry_s": 5, "telemetry_gsm_s": 30, "heartbeat_s": 60},
        "thresholds": {"v_max": 253.0, "v_min": 207.0, "i_max": 100.0, "f_dev": 0.5, "pf_min": 0.85},
        "console_url": "",
        "log_level": "info",
    }


class ConfigError(ValueError):
    """Invalid config; `errors` maps dotted paths to messages (the first one is the exception text)."""

    def __init__(self, errors):
        keys = sorted(errors.keys())
        super().__init__("; ".join([key + " " + errors[key] for key in keys]))
        self.errors = errors


def _type_ok(value, expected):
    if isinstance(value, bool):
        return expected is bool
    if expected == _NUMBER:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def _type_name(expected):
    if expected == _NUMBER:
        return "a number"
    return {str: "a string", int: "an integer", bool: "a boolean"}[expected]


def _check_values(doc, errors):
    def value(section, key):
        part = doc.get(section)
        if not isinstance(part, dict) or (section + "." + key) in errors:
            return None  # missing or already reported as the wrong type
        return part.get(key)

    def check(path, ok, message):
        if path not in errors and not ok:
            errors[path] = message

    mode = value("transport", "mode")
    if mode is not None:
        check("transport.mode", mode in TransportMode.ALL, "must be one of " + ", ".join(TransportMode.ALL))
    baud = value("modbus", "baud")
    if baud is not None:
        check("modbus.baud", baud in BAUD_RATES, "must be one of " + ", ".join([str(b) for b in BAUD_RATES]))
    parity = value("modbus", "parity")
    if parity is not None:
        check("modbus.parity", parity in PARITIES, "must be one of " + ", ".join(PARITIES))
    addr = value("modbus", "addr")
    if addr is not None:
        check("modbus.addr", 1 <= addr <= 247, "must be a Modbus address from 1 to 247")
    port = value("mqtt", "port")
    if port is not None:
        check("mqtt.port", 1 <= port <= 65535, "must be a TCP port from 1 to 65535")
    for section, key in (("intervals", "telemetry_s"), ("intervals", "telemetry_gsm_s"),
                         ("intervals", "heartbeat_s"), ("modbus", "poll_s")):
        seconds = value(section, key)
        if seconds is not None:
            check(section + "." + key, INTERVAL_MIN <= seconds <= INTERVAL_MAX,
                  "must be %d-%d s" % (INTERVAL_MIN, INTERVAL_MAX))
    level = doc.get("log_level")
    if isinstance(level, str):
        check("log_level", level in LOG_LEVELS, "must be one of " + ", ".join(LOG_LEVELS))


def validate(doc, partial=False):
    """Raise ConfigError listing every problem; `partial` lets sections and keys be missing."""
    if not isinstance(doc, dict):
        raise ConfigError({"config": "must be a JSON object"})
    errors = {}
    for key, item in doc.items():
        if key in _SCHEMA:
            if not isinstance(item, dict):
                errors[key] = "must be an object"
                continue
            schema = _SCHEMA[key]
            for inner, inner_value in item.items():
                path = key + "." + inner
                if inner not in schema:
                    errors[path] = "unknown setting"
                elif not _type_ok(inner_value, schema[inner]):
                    errors[path] = "must be " + _type_name(schema[inner])
            if not partial:
                for inner in schema:
                    if inner not in item:
                        errors[key + "." + inner] = "missing"
        elif key in _TOP_LEVEL:
            if not isinstance(item, str):
                errors[key] = "must be a string"
        else:
            errors[key] = "unknown setting"
    if not partial:
        for key in _SCHEMA:
            if key not in doc:
                errors[key] = "missing"
    _check_values(doc, errors)
    if errors:
        raise ConfigError(errors)


def deep_copy(doc):
    return json.loads(json.dumps(doc))


def merge(current, changes):
    """Partial update section by section; a secret sent back as '***' keeps its stored value."""
    merged = deep_copy(current)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            for inner, inner_value in value.items():
                if inner in SECRET_KEYS and inner_value == REDACTED:
                    continue
                merged[key][inner] = inner_value
        else:
            merged[key] = value
    return merged


def redact(doc):
    """Copy with every non-empty secret replaced by '***'."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            out[key] = REDACTED if (key in SECRET_KEYS and value) else redact(value)
        return out
    if isinstance(doc, list):
        return [redact(item) for item in doc]
    return doc


def config_hash(doc):
    return sha256_hex(canonical_json(doc))


def needs_restart(old, new):
    return any(canonical_json(old.get(section)) != canonical_json(new.get(section)) for section in RESTART_SECTIONS)


def is_provisioned(doc):
    """A device can leave AP mode once it knows a network to use and a broker to talk to."""
    has_network = bool(doc["wifi"]["ssid"]) or doc["transport"]["mode"] == TransportMode.GSM_ONLY
    return has_network and bool(doc["mqtt"]["host"])


class ConfigStore:
    """The applied config in NVS; a stored document that no longer validates falls back to defaults."""

    KEY = "cfg"

    def __init__(self, nvs):
        self.nvs = nvs
        stored = nvs.get(self.KEY)
        current = defaults()
        if isinstance(stored, dict):
            try:
                candidate = merge(current, stored)
                validate(candidate)
                current = candidate
            except ConfigError:
                pass
        self.current = current

    def apply(self, changes):
        """Validate a partial update, persist it, return (new_config, restart_needed)."""
        validate(changes, partial=True)
        merged = merge(self.current, changes)
        validate(merged)
        restart = needs_restart(self.current, merged)
        self.current = merged
        self.nvs.set(self.KEY, merged)
        return merged, restart

    def reset(self):
        self.current = defaults()
        self.nvs.delete(self.KEY)

    def hash(self):
        return config_hash(self.current)
