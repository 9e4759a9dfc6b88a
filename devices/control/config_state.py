"""Which config a device runs: the hash it reports (in heartbeats and in set_config answers) against the
desired version, so drift shows and a pushed version is marked applied when the device confirms it."""

from devices.models import Device, DeviceConfig


def record_applied_config(device: Device, applied_hash: str | None, at) -> bool:
    """Remember the hash a device says it applied; mark the desired version applied when they match."""
    if not applied_hash:
        return False
    Device.objects.filter(pk=device.pk).exclude(applied_config_hash=applied_hash).update(
        applied_config_hash=applied_hash
    )
    device.applied_config_hash = applied_hash
    if applied_hash != device.desired_config_hash:
        return False
    return bool(
        DeviceConfig.objects.filter(device=device, config_hash=applied_hash, applied_at__isnull=True).update(
            applied_at=at
        )
    )
