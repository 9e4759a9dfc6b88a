"""Which devices may store data, cached for the telemetry hot path (one query per batch at most)."""

import threading
import time
import uuid

from devices.models import Device


class DeviceDirectory:
    """device_id -> (pk, status), refreshed after a few seconds so approvals take effect promptly.

    Unknown ids are cached too, so a device that never registered costs one query per TTL, not one per
    message. The control worker forgets an entry when it changes that device (registration, status).
    """

    MAX_ENTRIES = 200_000

    def __init__(self, ttl: float = 5.0):
        self.ttl = ttl
        self._entries: dict[str, tuple[uuid.UUID | None, str | None, float]] = {}
        self._lock = threading.Lock()
        self._forgets = 0  # bumped by forget(): a lookup that overlapped one must not cache what it read

    def resolve(self, device_ids: set[str]) -> dict[str, tuple[uuid.UUID | None, str | None]]:
        now = time.monotonic()
        with self._lock:
            stale = [device_id for device_id in device_ids if self._entries.get(device_id, (0, 0, 0.0))[2] < now]
            result = {device_id: self._entries[device_id][:2] for device_id in device_ids if device_id not in stale}
            forgets = self._forgets
        if not stale:
            return result
        fresh = self._lookup(stale)
        with self._lock:
            # A registration or status change committed while we read may be missing from what we read:
            # use it for this batch, but cache it only if nothing was forgotten meanwhile (no stale "unknown").
            if self._forgets == forgets:
                if len(self._entries) > self.MAX_ENTRIES:
                    self._entries.clear()
                expires = now + self.ttl
                for device_id, (pk, status) in fresh.items():
                    self._entries[device_id] = (pk, status, expires)
        result.update(fresh)
        return result

    @staticmethod
    def _lookup(device_ids: list[str]) -> dict[str, tuple[uuid.UUID | None, str | None]]:
        found = {
            device_id: (pk, status)
            for device_id, pk, status in Device.objects.filter(device_id__in=device_ids).values_list(
                "device_id", "pk", "status"
            )
        }
        return {device_id: found.get(device_id, (None, None)) for device_id in device_ids}

    def forget(self, device_id: str) -> None:
        """Called after a commit that changed the device, so the next lookup reads it again."""
        with self._lock:
            self._entries.pop(device_id, None)
            self._forgets += 1
