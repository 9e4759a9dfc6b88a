"""Firmware version strings: parsing and ordering.

The console decides "is this image newer than what the gateway runs?" from the
version embedded in the image and the version the gateway reports. Plain string
comparison gets that wrong (``"1.10.0" < "1.9.2"``), so versions are compared
by Semantic Versioning 2.0 precedence, with three allowances for what firmware
builds actually produce: an optional leading ``v`` (``git describe`` style
tags), two-part versions (``1.2`` means ``1.2.0``) and build metadata after
``+``, which is kept out of the ordering as semver requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from django.core.exceptions import ValidationError

# The ESP-IDF app descriptor stores the version in a 32-byte field, and the
# console's version columns use the same width, so nothing longer can round-trip.
MAX_VERSION_LENGTH = 32

_VERSION_PATTERN = re.compile(
    r"""
    [vV]?
    (?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?:\.(?P<patch>[0-9]+))?
    (?:-(?P<prerelease>[0-9A-Za-z.-]+))?
    (?:\+(?P<build>[0-9A-Za-z.-]+))?
    """,
    re.VERBOSE,
)
_IDENTIFIER_PATTERN = re.compile(r"[0-9A-Za-z-]+")


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed version; equality and ordering follow semver precedence.

    ``build`` is kept for display only: two versions that differ only in build
    metadata are equal, because they claim to be the same release.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: str = ""

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def sort_key(self) -> tuple:
        """A plain tuple that orders like the version (usable in ``sorted``).

        A release sorts after every pre-release of the same number, hence the
        flag before the identifiers. Numeric identifiers sort numerically and
        before alphanumeric ones, which sort in ASCII order.
        """
        identifiers = tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.prerelease)
        return (self.major, self.minor, self.patch, not self.prerelease, identifiers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key == other.sort_key

    def __lt__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key < other.sort_key

    def __hash__(self) -> int:
        return hash(self.sort_key)

    def __str__(self) -> str:
        """Canonical spelling: three numbers, no ``v``, no build metadata."""
        core = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            core += "-" + ".".join(str(part) for part in self.prerelease)
        return core


def parse_version(text: str) -> Version:
    """Parse ``text`` into a :class:`Version`; raise ``ValueError`` saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"version must be text, got {type(text).__name__}")
    if not text:
        raise ValueError("version is empty")
    if len(text) > MAX_VERSION_LENGTH:
        raise ValueError(
            f"version {text[:MAX_VERSION_LENGTH]!r}... is {len(text)} characters long, "
            f"the limit is {MAX_VERSION_LENGTH}"
        )
    match = _VERSION_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(
            f"version {text!r} is not in the form MAJOR.MINOR[.PATCH][-PRERELEASE][+BUILD], "
            "for example 1.3.0 or 1.3.0-rc.1"
        )
    numbers = [_parse_number(text, match[name] or "0", name) for name in ("major", "minor", "patch")]
    prerelease = _parse_prerelease(text, match["prerelease"]) if match["prerelease"] else ()
    if match["build"]:
        _check_identifiers(text, match["build"], "build metadata")
    return Version(*numbers, prerelease=prerelease, build=match["build"] or "")


def is_newer(candidate: str | Version, current: str | Version) -> bool:
    """True when ``candidate`` has higher precedence than ``current``."""
    return _as_version(candidate) > _as_version(current)


def version_sort_key(text: str | Version) -> tuple:
    """Key for ``sorted(versions, key=version_sort_key)``; raises ``ValueError`` on bad input."""
    return _as_version(text).sort_key


def validate_version(value: str) -> None:
    """Django field validator: reject what :func:`parse_version` rejects, with its reason."""
    try:
        parse_version(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid_version") from error


def _as_version(value: str | Version) -> Version:
    return value if isinstance(value, Version) else parse_version(value)


def _parse_number(text: str, digits: str, name: str) -> int:
    if len(digits) > 1 and digits.startswith("0"):
        raise ValueError(f"version {text!r}: {name} number {digits!r} has a leading zero")
    return int(digits)


def _parse_prerelease(text: str, prerelease: str) -> tuple[int | str, ...]:
    parts = _check_identifiers(text, prerelease, "pre-release")
    parsed: list[int | str] = []
    for part in parts:
        if part.isdigit():
            parsed.append(_parse_number(text, part, "pre-release"))
        else:
            parsed.append(part)
    return tuple(parsed)


def _check_identifiers(text: str, dotted: str, what: str) -> list[str]:
    parts = dotted.split(".")
    if not all(_IDENTIFIER_PATTERN.fullmatch(part) for part in parts):
        raise ValueError(f"version {text!r}: {what} {dotted!r} has an empty part between dots")
    return parts
