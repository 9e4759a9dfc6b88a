"""The live event plumbing on its own: which groups get what, and the per-device coalescing."""

import asyncio

from acuvim_console.core import events
from acuvim_console.core.events import Coalescer


def test_high_rate_device_events_stay_out_of_the_fleet_group():
    assert events.groups_for(events.TELEMETRY_RECEIVED, "ACV-1") == ["device.ACV-1"]
    assert events.groups_for(events.HEARTBEAT_RECEIVED, "ACV-1") == ["device.ACV-1"]
    assert events.groups_for(events.COMMAND_COMPLETED, "ACV-1") == ["fleet", "device.ACV-1"]
    assert events.groups_for(events.ROLLOUT_PROGRESS, None) == ["fleet"]


def run_coalescer(offers: list[tuple[float, str, int]], interval: float = 0.1, settle: float = 0.3):
    """Offer (delay, key, value) in order inside a real loop; return what was delivered and when."""
    delivered = []

    async def scenario():
        loop = asyncio.get_running_loop()
        start = loop.time()
        coalescer = Coalescer(interval, lambda item: delivered.append((round(loop.time() - start, 2), item)), loop)
        for delay, key, value in offers:
            await asyncio.sleep(delay)
            coalescer.offer(key, (key, value))
        await asyncio.sleep(settle)

    asyncio.run(scenario())
    return delivered


def test_first_reading_goes_out_at_once_and_a_burst_ends_on_its_latest_value():
    delivered = run_coalescer([(0, "A", n) for n in range(20)])
    assert [item for _, item in delivered] == [("A", 0), ("A", 19)]
    assert delivered[0][0] < 0.05 and 0.08 <= delivered[1][0] <= 0.2


def test_devices_are_coalesced_independently():
    delivered = run_coalescer([(0, "A", 1), (0, "B", 1), (0, "A", 2), (0, "B", 2)])
    assert sorted(item for _, item in delivered) == [("A", 1), ("A", 2), ("B", 1), ("B", 2)]


def test_readings_slower_than_the_interval_all_go_out():
    delivered = run_coalescer([(0.12, "A", n) for n in range(4)])
    assert [item for _, item in delivered] == [("A", n) for n in range(4)]
