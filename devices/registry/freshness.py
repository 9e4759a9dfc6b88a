"""Which of a device's messages is newer, judged by the device's own clock.

Several bridges (a shared-subscription group, or bridges subscribed side by side) may handle one device's
heartbeats and status messages in any order, and one bridge may handle them late. The device's `ts`
says in which order it sent them; the console's receive times do not. So each device remembers the
device time of the newest heartbeat it applied and of the newest message that spoke about its presence
(status, heartbeat, registration), and an older one is stale.

A message without a clock (`ts` null: no NTP or GSM time yet, and the LWT, which the broker publishes
on the device's behalf) cannot be ordered and is applied as it comes. A `ts` further ahead of the
console's clock than CLOCK_AHEAD_TOLERANCE is treated the same way, so that one reading from a device
whose clock jumped ahead cannot make its correct messages look stale for hours.
"""

from datetime import datetime, timedelta

CLOCK_AHEAD_TOLERANCE = timedelta(minutes=5)


def device_time(payload: dict, received_at: datetime) -> datetime | None:
    """The message's device time if it can be used for ordering, else None."""
    ts = payload.get("ts")
    if ts is None or ts > received_at + CLOCK_AHEAD_TOLERANCE:
        return None
    return ts


def is_stale(ts: datetime | None, newest_applied: datetime | None) -> bool:
    """Whether a message sent at `ts` is older than the newest one applied (unordered ones never are).

    Ties are not stale: firmware stamps whole seconds, so a registration, a status and a heartbeat sent
    on one connect share a `ts`; they arrive in order through one bridge, and applying a repeat is harmless.
    """
    return ts is not None and newest_applied is not None and ts < newest_applied
