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


def canonical_json(value):
    """Sorted keys, no spaces, non-ASCII kept as UTF-8 (like Python's ensure_ascii=False)."""
    if isinstance(value, dict):
        parts = []
        for key in sorted(value.keys()):
            parts.append(_string(key) + ":" + canonical_json(value[key]))
        return "{" + ",".join(parts) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([canonical_json(item) for item in value]) + "]"
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)


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
