"""Redis killed under a bridge process: ingestion goes on without it, live events come back with it.

Redis carries only live events (the Channels layer) and the set of watched devices; nothing the
bridge stores depends on it. The bridge here is `manage.py mqtt_bridge` with REDIS_URL pointing at a
private redis-server, and the test listens on the production layer (RedisPubSubChannelLayer) as a
web process's websocket would.
"""

import time

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from acuvim_console.core.events import DEVICE_STATUS_CHANGED
from devices.choices import DeviceStatus
from devices.models import Device
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, wait_until
from tests.control.live_events import LiveEvents
from tests.factories import make_device
from tests.support.redis_server import RedisServer

TELEMETRY = 200
CHANNEL_PREFIX = "fault-test"


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(workdir=tmp_path).start()
    yield server
    server.kill()


def _status_events(listener: LiveEvents, device_id: str) -> list[str]:
    return [
        data["status"]
        for name, data in listener.fleet(wait=0.2)
        if name == DEVICE_STATUS_CHANGED and data["device_id"] == device_id
    ]


def _flip_until_announced(device: DeviceClient, listener: LiveEvents, device_id: str, timeout: float) -> str:
    """Change the device's status back and forth until a change is announced; returns the announced status."""
    deadline = time.monotonic() + timeout
    state = "offline"
    while time.monotonic() < deadline:
        device.send(f"acuvim/{device_id}/status", {"state": state, "ts": time.time()})
        announced = _status_events(listener, device_id)
        if announced:
            return announced[-1]
        state = "online" if state == "offline" else "offline"
    raise AssertionError(f"no {DEVICE_STATUS_CHANGED} event for {device_id} within {timeout} s")


def test_redis_killed_ingestion_continues_and_live_events_resume_when_it_is_back(
    transactional_db, mqtt_broker, redis_server, bridge_processes
):
    gateway, *others = [make_device() for _ in range(8)]
    bridge = bridge_processes(mqtt_broker.url, REDIS_URL=redis_server.url, CHANNEL_PREFIX=CHANNEL_PREFIX)
    device = DeviceClient(mqtt_broker.port)
    listener = LiveEvents(layer=RedisPubSubChannelLayer(hosts=[redis_server.url], prefix=CHANNEL_PREFIX))
    try:
        device.wait_for_bridge(bridge.client_id)
        assert _flip_until_announced(device, listener, gateway.device_id, timeout=10)

        redis_server.kill()
        start = time.time() - 3600
        for n in range(TELEMETRY):
            device.send(f"acuvim/{gateway.device_id}/telemetry", messages.reading(start + n, seq=n))
        device.send(f"acuvim/{gateway.device_id}/status", {"state": "offline", "ts": time.time()})
        device.send(f"acuvim/{gateway.device_id}/heartbeat", messages.heartbeat(uptime=777))
        for other in others:
            device.send(f"acuvim/{other.device_id}/telemetry", messages.reading(start, seq=1))
        wait_until(lambda: TelemetryRecord.objects.count() == TELEMETRY + len(others), timeout=20)
        wait_until(lambda: Device.objects.get(pk=gateway.pk).uptime_s == 777, timeout=10)
        assert Device.objects.get(pk=gateway.pk).status == DeviceStatus.ONLINE, "the heartbeat came after offline"
        assert bridge.alive()
        time.sleep(0.5)  # the live-event thread has tried (and failed) to send them all
        failures = bridge.log().count("could not be sent")
        assert failures == 1, f"{failures} log entries for failed live events: one per interval, not one per event"

        redis_server.start()  # same port: the bridge and the listener reconnect by themselves
        assert _flip_until_announced(device, listener, gateway.device_id, timeout=20)
        assert bridge.alive()
    finally:
        listener.close()
        device.close()
