"""Canonical JSON and SHA-256, identical on MicroPython and CPython.

The console hashes the desired config as `json.dumps(doc, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`; MicroPython's json has no `sort_keys`, so the document is serialised here by hand.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import hashlib
import json

try:
    from binascii import hexlify
except ImportError:  # pragma: no cover - every MicroPython build has binascii
    hexlify = None

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _string(text):
    out = ['"']
    for ch in text:
        escaped = _ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _encode(value, sort_keys, number, string):
    if isinstance(value, dict):
        keys = sorted(value.keys()) if sort_keys else value.keys()
        return "{" + ",".join([string(key) + ":" + _encode(value[key], sort_keys, number, string)
                               for key in keys]) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([_encode(item, sort_keys, number, string) for item in value]) + "]"
    if isinstance(value, str):
        return string(value)
    if isinstance(value, float):
        return number(value)
    return json.dumps(value)


def canonical_json(value):
    """Sorted keys, no spaces, non-ASCII kept as UTF-8 (like Python's ensure_ascii=False)."""
    return _encode(value, True, json.dumps, _string)


def _short_float(value):
    """15 significant digits: MicroPython parses and prints floats a unit in the last place off
    (`round(9.8, 2)` prints 9.800000000000001), and a double holds 15 for certain."""
    if value != value or value in (float("inf"), float("-inf")):
        return "null"
    text = "%.15g" % value
    if "." not in text and "e" not in text and "n" not in text:
        text += ".0"
    return text


def wire_json(value):
    """What the device publishes: compact JSON whose floats are written with 15 significant digits.

    Strings go through json.dumps (C on both interpreters): on the wire an escaped non-ASCII character
    is as good as a raw one; only the config hash needs the hand-written form."""
    return _encode(value, False, _short_float, json.dumps)


def sha256_hex(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hexlify(hashlib.sha256(data).digest()).decode()


class Sha256Stream:
    """Incremental SHA-256 that yields a hex digest on both interpreters."""

    def __init__(self):
        self._hash = hashlib.sha256()

    def update(self, chunk):
        self._hash.update(chunk)

    def hexdigest(self):
        return hexlify(self._hash.digest()).decode()
