"""Live events as production carries them: produced in a `manage.py mqtt_bridge` process, received by a
websocket of this (the web) process, through RedisPubSubChannelLayer on the real Redis.

The device page's interest travels the other way: its socket registers the device in Redis, and the
bridge process reads that registry before it publishes the device's telemetry.
"""

import time
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from acuvim_console.core import events, watchers
from acuvim_console.operators.roles import VIEWER
from devices.choices import DeviceStatus
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient
from tests.cockpit.test_consumers import communicator, connect_and_snapshot, tickets_for
from tests.factories import make_device, make_user
from tests.support.bridge_process import BridgeProcess
from tests.support.channel_layer import LIVE_REDIS_URL

pytestmark = pytest.mark.django_db(transaction=True)

ACROSS_PROCESSES_TIMEOUT_S = 20  # the bridge process and this one share two busy cores with other test runs


async def next_event(comm: WebsocketCommunicator, name: str) -> dict:
    while True:
        message = await comm.receive_json_from(timeout=ACROSS_PROCESSES_TIMEOUT_S)
        if message.get("event") == name:
            return message


@pytest.fixture
def bridge_process(mqtt_broker, live_channel_prefix, tmp_path):
    client_id = f"live-bridge-{uuid.uuid4().hex[:8]}"
    process = BridgeProcess(
        mqtt_broker.url,
        client_id,
        tmp_path / "bridge.log",
        REDIS_URL=LIVE_REDIS_URL,
        CHANNEL_PREFIX=live_channel_prefix,
    )
    device = DeviceClient(mqtt_broker.port)
    try:
        device.wait_for_bridge(client_id)
        yield device
    finally:
        device.close()
        process.stop()


def test_events_from_the_bridge_process_reach_the_web_process_websockets_through_redis(bridge_process):
    gateway = make_device(status=DeviceStatus.OFFLINE)
    fleet_ticket, page_ticket = tickets_for(make_user(VIEWER), count=2)
    device_id = gateway.device_id

    async def scenario():
        fleet = communicator(f"/ws/fleet/?ticket={fleet_ticket}", headers=())
        page = communicator(f"/ws/devices/{device_id}/?ticket={page_ticket}", headers=())
        await connect_and_snapshot(fleet)
        await connect_and_snapshot(page)
        await sync_to_async(bridge_process.send)(f"devices/register/{device_id}", messages.registration(device_id))
        status = await next_event(fleet, events.DEVICE_STATUS_CHANGED)
        # The bridge re-reads the watched devices at most once per RELOAD_S: after that, it knows this page.
        await sync_to_async(time.sleep)(watchers.RELOAD_S + 0.2)
        reading = messages.reading(time.time() - 1, f=49.97)
        await sync_to_async(bridge_process.send)(f"acuvim/{device_id}/telemetry", reading)
        telemetry = await next_event(page, events.TELEMETRY_RECEIVED)
        await fleet.disconnect()
        await page.disconnect()
        return status, telemetry

    status, telemetry = async_to_sync(scenario)()
    assert (status["device_id"], status["data"]["status"]) == (device_id, DeviceStatus.ONLINE)
    assert telemetry["device_id"] == device_id
    assert telemetry["data"]["frequency"] == 49.97
