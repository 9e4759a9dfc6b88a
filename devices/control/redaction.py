"""Redacting what a device sends before the console stores it for display.

Command answers (a `get_config` returns the WiFi password, the MQTT password, the GSM PIN), error
messages ("auth failed for user x with password y") and alert messages are shown to Viewers in the
API, the admin and websocket events. So before they are stored, secret keys lose their values by name
(acuvim_console.protocol.config.is_secret_key) and every secret the console knows the device holds (the secrets of its
recent desired configs) is masked wherever it appears. Device tokens are masked by their shape, since
the console keeps only their hash. The unredacted answer is never written anywhere.
"""

import re

from acuvim_console.protocol.config import REDACTED, is_secret_key, redact_secrets, secret_values
from acuvim_console.protocol.identity import TOKEN_PREFIX
from devices.models import Device

# The desired configs whose secrets may still be on the device (a push not yet applied keeps the old ones).
RECENT_CONFIGS = 10
_DEVICE_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{16,}")


def known_secrets(device: Device) -> frozenset[str]:
    found: set[str] = set()
    for document in device.configs.order_by("-version").values_list("document", flat=True)[:RECENT_CONFIGS]:
        found |= secret_values(document)
    return frozenset(found)


# A JSON string member in raw text, the value possibly cut off (a sample is the first bytes of a payload).
_STRING_MEMBER = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)"(?:[^"\\]|\\.)*"?')


def mask_secrets_in_text(text: str) -> str:
    """Secrets in JSON text that may not parse (a refused payload's first bytes): by key name and token shape."""

    def masked(member: re.Match) -> str:
        key, colon = member.group(1), member.group(2)
        return f'"{key}"{colon}"{REDACTED}"' if is_secret_key(key) else member.group(0)

    return _DEVICE_TOKEN.sub(REDACTED, _STRING_MEMBER.sub(masked, text))


def _mask_tokens(value):
    if isinstance(value, str):
        return _DEVICE_TOKEN.sub(REDACTED, value)
    if isinstance(value, dict):
        return {key: _mask_tokens(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_tokens(item) for item in value]
    return value


class DeviceRedactor:
    """Redacts any number of values sent by one device, looking its secrets up once."""

    def __init__(self, device: Device):
        self.secrets = known_secrets(device)

    def __call__(self, value):
        return _mask_tokens(redact_secrets(value, self.secrets))
