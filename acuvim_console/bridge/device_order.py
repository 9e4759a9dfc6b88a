"""A device's messages are handled in the order the broker delivered them, across the bridge's two lanes.

Telemetry goes to the batching writer and everything else to a control worker pinned to the device;
each lane keeps its own order, and this module keeps the order between them. The MQTT thread numbers
every message as it arrives (`arrival`) and notes what it must wait for (`after`):

- telemetry that arrives while its device's registration is queued or being handled is held by the
  writer, unacknowledged, until the registration is done, so a new gateway's first readings are stored
  once it exists instead of being refused as unknown. Only a registration can change whether or how a
  reading is stored; a reading does not wait for a heartbeat, status, alert or response before it, or a
  gateway replaying its SD card (a heartbeat every dozen readings) would be written a dozen rows a batch;
- a control message waits until the writer has finished the batch holding its device's last earlier
  reading, so a status or heartbeat never overtakes the telemetry sent before it.

Each wait is for a message that arrived earlier, so the waits cannot form a cycle. Per telemetry message
the MQTT thread pays a counter, a dict store and a dict lookup; everything else happens per control
message or per batch.
"""

import threading
from collections import deque

NOTHING = -1  # `after` of a message that waits for nothing


class DeviceOrder:
    # Above this many devices the newest-reading map is pruned of entries every control message is past.
    MAX_TRACKED = 200_000

    def __init__(self):
        self._arrivals = 0  # written by the MQTT thread only
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._open_registrations: dict[str, deque[int]] = {}  # device -> arrivals of its unfinished registrations
        self._newest_telemetry: dict[str, int] = {}  # device -> arrival of its newest reading (MQTT thread)
        self._telemetry_through = NOTHING  # the writer finished every reading up to here, except held ones
        self._held_from: dict[str, int] = {}  # device -> earliest arrival of its readings the writer holds

    # --- the MQTT thread, as messages arrive ----------------------------------------------------------

    def telemetry_arrived(self, device_id: str) -> tuple[int, int]:
        """(arrival, after): `after` is the device's newest unfinished registration, or NOTHING."""
        self._arrivals += 1
        arrival = self._arrivals
        if len(self._newest_telemetry) >= self.MAX_TRACKED:
            self._prune()
        self._newest_telemetry[device_id] = arrival
        pending = self._open_registrations.get(device_id)
        if not pending:
            return arrival, NOTHING
        with self._lock:
            return arrival, pending[-1] if pending else NOTHING

    def control_arrived(self, device_id: str | None, holds_readings: bool) -> tuple[int, int]:
        """(arrival, after): `after` is the device's newest earlier reading, or NOTHING.

        With `holds_readings` (a registration), the device's readings that arrive until it is done wait for it.
        """
        self._arrivals += 1
        arrival = self._arrivals
        if device_id is None:  # refused before it reaches a handler: nothing to order against
            return arrival, NOTHING
        if holds_readings:
            with self._lock:
                self._open_registrations.setdefault(device_id, deque()).append(arrival)
        return arrival, self._newest_telemetry.get(device_id, NOTHING)

    def _prune(self) -> None:
        through = self._telemetry_through
        self._newest_telemetry = {
            device_id: arrival for device_id, arrival in self._newest_telemetry.items() if arrival > through
        }

    # --- the control workers -------------------------------------------------------------------------

    def wait_for_telemetry(self, device_id: str | None, after: int, stop: threading.Event) -> bool:
        """Block until the readings this message must follow are handled; False if the bridge is stopping."""
        if after == NOTHING or device_id is None:
            return True
        with self._progress:
            while not self._telemetry_done(device_id, after):
                if stop.is_set():
                    return False
                self._progress.wait(0.2)
        return True

    def _telemetry_done(self, device_id: str, after: int) -> bool:
        return self._telemetry_through >= after and self._held_from.get(device_id, after + 1) > after

    def control_done(self, device_id: str | None, arrival: int) -> None:
        if device_id is None:
            return
        with self._lock:
            pending = self._open_registrations.get(device_id)
            if pending and arrival in pending:
                pending.remove(arrival)
                if not pending:
                    del self._open_registrations[device_id]

    def describe(self, device_id: str | None) -> str:
        """The ordering state one device's next message depends on, for a stall warning (read unlocked)."""
        if device_id is None:
            return "no device"
        registrations = list(self._open_registrations.get(device_id, ()))
        return (
            f"telemetry handled through arrival {self._telemetry_through}, {device_id}'s held from "
            f"{self._held_from.get(device_id, 'none')}, its open registrations {registrations or 'none'}"
        )

    # --- the telemetry writer ------------------------------------------------------------------------

    def telemetry_ready(self, device_id: str, after: int) -> bool:
        """Whether a reading may be handled: the registrations it arrived behind are all done."""
        if after == NOTHING:
            return True
        pending = self._open_registrations.get(device_id)
        if not pending:
            return True
        with self._lock:
            return not pending or pending[0] > after

    def telemetry_progress(self, through: int, held_from: dict[str, int]) -> None:
        """After a batch: every reading up to `through` is handled except those held, by device."""
        with self._progress:
            self._telemetry_through = max(self._telemetry_through, through)
            self._held_from = held_from
            self._progress.notify_all()
