"""The websocket gauge counts the sockets that got in, by consumer, and forgets them when they close."""

import pytest
from asgiref.sync import async_to_sync

from acuvim_console.core.metrics import WEBSOCKETS, counts
from acuvim_console.operators.roles import VIEWER
from tests.cockpit.test_consumers import close_code_of, communicator, connect_and_snapshot, session_headers
from tests.factories import make_device, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_open_sockets_are_counted_by_consumer_and_refused_ones_not_at_all():
    device, headers = make_device(), session_headers(make_user(VIEWER))
    before = counts(WEBSOCKETS)

    async def scenario():
        fleet, page = communicator("/ws/fleet/", headers), communicator(f"/ws/devices/{device.device_id}/", headers)
        await connect_and_snapshot(fleet)
        await connect_and_snapshot(page)
        await close_code_of(communicator("/ws/fleet/"))  # anonymous: closed with 4401, never counted
        open_now = counts(WEBSOCKETS)
        await fleet.disconnect()
        await page.disconnect()
        return open_now

    open_now = async_to_sync(scenario)()
    assert open_now.get("fleet", 0) == before.get("fleet", 0) + 1
    assert open_now.get("device", 0) == before.get("device", 0) + 1
    assert counts(WEBSOCKETS) == before
