"""Turning an operator's choice of target (device ids, a group, a hardware type) into devices."""

import contextlib
import uuid

from devices.models import Device
from groups.models import DeviceGroup


class TargetError(ValueError):
    """The target names nothing, or names devices/groups that do not exist."""


def select_devices(*, device_ids=None, group=None, hardware=None) -> tuple[list[Device], dict]:
    """The devices of exactly one kind of target, and a description of the target kept with the rollout."""
    chosen = [name for name, value in (("device_ids", device_ids), ("group", group), ("hardware", hardware)) if value]
    if len(chosen) != 1:
        raise TargetError("Choose exactly one target: device_ids, group or hardware.")
    if device_ids:
        return _by_ids(device_ids), {"device_ids": sorted(set(device_ids))}
    if group:
        found = find_group(group)
        return list(found.devices.all()), {"group": str(found.pk), "group_name": found.name}
    hardware = hardware.strip()
    devices = list(Device.objects.filter(hardware__iexact=hardware))
    if not devices:
        raise TargetError(f"No device reports hardware {hardware!r}.")
    return devices, {"hardware": hardware}


def find_group(reference) -> DeviceGroup:
    """A group by its id or, failing that, its name."""
    text = str(reference).strip()
    query = DeviceGroup.objects.filter(name=text)
    with contextlib.suppress(ValueError):
        query = DeviceGroup.objects.filter(pk=uuid.UUID(text)) | query
    found = query.first()
    if found is None:
        raise TargetError(f"No device group {text!r}.")
    return found


def _by_ids(device_ids) -> list[Device]:
    """Devices by their `ACV-...` id (or primary key), refusing the whole list if any id is unknown."""
    wanted = {str(value).strip() for value in device_ids}
    keys = set()
    for value in wanted:
        try:
            keys.add(uuid.UUID(value))
        except ValueError:
            continue
    devices = list(Device.objects.filter(device_id__in=wanted) | Device.objects.filter(pk__in=keys))
    known = {device.device_id for device in devices} | {str(device.pk) for device in devices}
    unknown = sorted(wanted - known)
    if unknown:
        raise TargetError(f"Unknown devices: {', '.join(unknown[:20])}{' ...' if len(unknown) > 20 else ''}.")
    return devices
