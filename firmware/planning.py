"""Who may receive a firmware version now: the dry run before a deployment, repeated before each send.

A device is skipped, with a reason an operator can act on, when it is not accepted (pending approval or
decommissioned), reports other hardware than the image targets, already runs the version, would be
downgraded (unless forced), is already being updated by another rollout, or when the image is inactive.
"""

from devices.choices import UNACCEPTED_STATUSES
from devices.models import Device
from firmware.models import FirmwareVersion, RolloutDevice, RolloutStatus
from firmware.ota_tracking import OPEN_STATES
from firmware.versions import parse_version

ACTIVE_STATUSES = (RolloutStatus.SCHEDULED, RolloutStatus.RUNNING, RolloutStatus.PAUSED)


# --- Planning ------------------------------------------------------------------------------------


def plan(firmware: FirmwareVersion, devices, allow_downgrade: bool = False, *, exclude_rollout=None):
    """Split `devices` into those that may receive `firmware` now and those skipped, with the reason.

    This is the dry run shown before a deployment and the check repeated just before each device is sent.
    """
    devices = list(devices)
    busy = _devices_in_active_rollouts([d.pk for d in devices], exclude_rollout)
    target = parse_version(firmware.version)
    eligible, skipped = [], []
    for device in devices:
        reason = _skip_reason(firmware, target, device, allow_downgrade, busy.get(device.pk))
        if reason:
            skipped.append((device, reason))
        else:
            eligible.append(device)
    return eligible, skipped


def _skip_reason(firmware, target, device: Device, allow_downgrade: bool, busy_with: str | None) -> str:
    if not firmware.active:
        return f"firmware {firmware.version} is inactive"
    if device.status in UNACCEPTED_STATUSES:
        return f"device is {device.get_status_display().lower()}"
    if firmware.hardware and device.hardware.strip().lower() != firmware.hardware.strip().lower():
        return f"hardware {device.hardware or 'unknown'!r} does not match the firmware's {firmware.hardware!r}"
    if busy_with:
        return f"already in a running rollout of {busy_with}"
    try:
        current = parse_version(device.firmware_version)
    except ValueError:
        if allow_downgrade:
            return ""
        return f"reports version {device.firmware_version or 'none'!r}, which cannot be compared (force to deploy)"
    if current == target:
        return f"already runs {device.firmware_version}"
    if current > target and not allow_downgrade:
        return f"would downgrade from {device.firmware_version} (allow downgrade to force)"
    return ""


def _devices_in_active_rollouts(device_pks, exclude_rollout) -> dict:
    rows = RolloutDevice.objects.filter(
        device_id__in=device_pks, state__in=OPEN_STATES, rollout__status__in=ACTIVE_STATUSES
    )
    if exclude_rollout is not None:
        rows = rows.exclude(rollout=exclude_rollout)
    return dict(rows.values_list("device_id", "rollout__firmware__version"))
