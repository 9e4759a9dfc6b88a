"""Device identity: the `ACV-` + MAC id that names a gateway in topics, URLs and the database."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError

# Characters that would break out of a topic segment, whatever pattern an installation configures.
_TOPIC_UNSAFE = re.compile(r"[+#/\x00]")


def device_id_pattern() -> re.Pattern:
    return re.compile(settings.DEVICE_ID_PATTERN)


def is_valid_device_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= 32
        and not _TOPIC_UNSAFE.search(value)
        and device_id_pattern().fullmatch(value) is not None
    )


def validate_device_id(value: str) -> None:
    if not is_valid_device_id(value):
        raise ValidationError(
            "%(value)r is not a device id: expected ACV- followed by the 12 upper-case hex digits of the MAC.",
            params={"value": value},
            code="invalid_device_id",
        )


def device_id_from_mac(mac: str) -> str:
    digits = re.sub(r"[^0-9A-Fa-f]", "", mac).upper()
    if len(digits) != 12:
        raise ValueError(f"{mac!r} is not a MAC address")
    return f"ACV-{digits}"

# Device tokens (the HTTP credential of the firmware endpoints) start with this, so logs and documents
# can mask one wherever it appears.
TOKEN_PREFIX = "acvt_"  # noqa: S105 (a label, not a secret)
