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

    def resolve(self, device_ids: set[str]) -> dict[str, tuple[uuid.UUID | None, str | None]]:
        now = time.monotonic()
        with self._lock:
            stale = [device_id for device_id in device_ids if self._entries.get(device_id, (0, 0, 0.0))[2] < now]
        if stale:
            found = {
                device_id: (pk, status)
                for device_id, pk, status in Device.objects.filter(device_id__in=stale).values_list(
                    "device_id", "pk", "status"
                )
            }
            expires = now + self.ttl
            with self._lock:
                if len(self._entries) > self.MAX_ENTRIES:
                    self._entries.clear()
                for device_id in stale:
                    pk, status = found.get(device_id, (None, None))
                    self._entries[device_id] = (pk, status, expires)
        with self._lock:
            return {device_id: self._entries[device_id][:2] for device_id in device_ids if device_id in self._entries}

    def forget(self, device_id: str) -> None:
        with self._lock:
            self._entries.pop(device_id, None)
