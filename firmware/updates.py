"""Which image a gateway should run next: the answer behind `GET /api/firmware/check`.

Versions are compared by semver precedence (1.10.0 is newer than 1.9.2). A device on a release is only
offered releases; pre-releases go to devices already testing one, so a release candidate never reaches
the fleet through the periodic check, only through a deliberate rollout.
"""

from dataclasses import dataclass

from django.db.models import Q

from firmware.models import FirmwareVersion
from firmware.versions import Version, parse_version


@dataclass(frozen=True)
class UpdateOffer:
    firmware: FirmwareVersion
    mandatory: bool  # true when any release skipped on the way is mandatory


def find_update(current_version: str, hardware: str = "") -> UpdateOffer | None:
    """The newest active image for `hardware` newer than `current_version`, or None.

    Raises ValueError when `current_version` is not a version. Images for a named hardware are offered
    only to devices that report exactly that hardware (case-insensitively).
    """
    current = parse_version(current_version)
    hardware_match = Q(hardware="") | Q(hardware__iexact=hardware.strip()) if hardware.strip() else Q(hardware="")
    newer = [
        (version, firmware)
        for firmware in FirmwareVersion.objects.filter(hardware_match, active=True)
        if (version := _parsed(firmware.version)) is not None
        and version > current
        and (current.is_prerelease or not version.is_prerelease)
    ]
    if not newer:
        return None
    _, best = max(newer, key=lambda pair: pair[0].sort_key)
    return UpdateOffer(firmware=best, mandatory=any(firmware.mandatory for _, firmware in newer))


def _parsed(text: str) -> Version | None:
    try:
        return parse_version(text)
    except ValueError:
        return None
