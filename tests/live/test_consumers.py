"""The fleet and device websockets against the real ASGI app: who may connect, the snapshot, the deltas.

Driven with asgiref's async_to_sync (no pytest-asyncio needed); the database is the real PostgreSQL,
with committed rows (transaction=True) because the consumers read it from other threads.
"""

import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from acuvim_console import events
from acuvim_console.asgi import application
from alerts.models import AlertSeverity, AlertType
from devices.choices import DeviceStatus
from devices.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from devices.roles import VIEWER
from devices.status import change_status
from tests.factories import make_device, make_user

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
TIMEOUT = 3


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [ORIGIN, (b"cookie", cookie)]


def communicator(path: str, headers=(ORIGIN,), subprotocols=None) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=list(headers), subprotocols=subprotocols)


async def close_code_of(comm: WebsocketCommunicator) -> int:
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected, "the server accepts first, then closes with a code that says why"
    message = await comm.receive_output(timeout=TIMEOUT)
    assert message["type"] == "websocket.close"
    return message["code"]


async def connect_and_snapshot(comm: WebsocketCommunicator) -> dict:
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    snapshot = await comm.receive_json_from(timeout=TIMEOUT)
    assert snapshot["type"] == "snapshot"
    return snapshot


async def next_event(comm: WebsocketCommunicator, name: str) -> dict:
    """The next event of that name, skipping others (counters refreshes may interleave)."""
    while True:
        message = await comm.receive_json_from(timeout=TIMEOUT)
        if message.get("event") == name:
            return message


def test_anonymous_connection_is_closed_with_4401():
    async def scenario():
        return await close_code_of(communicator("/ws/fleet/"))

    assert async_to_sync(scenario)() == CLOSE_UNAUTHENTICATED


def test_user_without_view_permission_is_closed_with_4403():
    headers = session_headers(make_user(role=None))

    async def scenario():
        return await close_code_of(communicator("/ws/fleet/", headers))

    assert async_to_sync(scenario)() == CLOSE_FORBIDDEN


def test_bad_token_is_closed_with_4401_even_with_a_valid_session():
    headers = session_headers(make_user(VIEWER))

    async def scenario():
        return await close_code_of(communicator("/ws/fleet/?token=not-a-jwt", headers))

    assert async_to_sync(scenario)() == CLOSE_UNAUTHENTICATED


def test_cross_site_origin_is_refused_before_the_handshake():
    headers = [(b"origin", b"http://evil.example"), *session_headers(make_user(VIEWER))[1:]]

    async def scenario():
        connected, _ = await communicator("/ws/fleet/", headers).connect(timeout=TIMEOUT)
        return connected

    assert async_to_sync(scenario)() is False


def test_viewer_session_gets_fleet_snapshot_with_counts_and_recent_events():
    make_device(status=DeviceStatus.ONLINE)
    offline = make_device(status=DeviceStatus.ONLINE)
    change_status(offline, DeviceStatus.OFFLINE, reason="lwt")
    make_device(status=DeviceStatus.PENDING)
    headers = session_headers(make_user(VIEWER))

    async def scenario():
        comm = communicator("/ws/fleet/", headers)
        snapshot = await connect_and_snapshot(comm)
        await comm.disconnect()
        return snapshot

    snapshot = async_to_sync(scenario)()
    assert snapshot["counters"]["devices"] == {
        "pending": 1,
        "online": 1,
        "degraded": 0,
        "offline": 1,
        "decommissioned": 0,
    }
    assert snapshot["counters"]["alerts"] == {"info": 0, "warning": 0, "critical": 0}
    first = snapshot["recent_events"][0]
    assert first["event"] == events.DEVICE_STATUS_CHANGED
    assert (first["device_id"], first["data"]["status"]) == (offline.device_id, "offline")


def test_jwt_in_query_string_and_in_subprotocol_both_authenticate():
    token = str(AccessToken.for_user(make_user(VIEWER)))

    async def scenario():
        by_query = communicator(f"/ws/fleet/?token={token}", headers=())
        await connect_and_snapshot(by_query)
        await by_query.disconnect()
        by_protocol = communicator("/ws/fleet/", headers=(), subprotocols=["acuvim.v1", f"bearer.{token}"])
        connected, protocol = await by_protocol.connect(timeout=TIMEOUT)
        snapshot = await by_protocol.receive_json_from(timeout=TIMEOUT)
        await by_protocol.disconnect()
        return connected, protocol, snapshot["type"]

    assert async_to_sync(scenario)() == (True, "acuvim.v1", "snapshot")


def test_unknown_device_is_closed_with_4404():
    token = str(AccessToken.for_user(make_user(VIEWER)))

    async def scenario():
        return await close_code_of(communicator(f"/ws/devices/ACV-000000000000/?token={token}", headers=()))

    assert async_to_sync(scenario)() == CLOSE_NOT_FOUND


def test_status_change_reaches_fleet_and_device_sockets():
    device = make_device(status=DeviceStatus.ONLINE)
    token = str(AccessToken.for_user(make_user(VIEWER)))

    async def scenario():
        fleet = communicator(f"/ws/fleet/?token={token}", headers=())
        one = communicator(f"/ws/devices/{device.device_id}/?token={token}", headers=())
        await connect_and_snapshot(fleet)
        snapshot = await connect_and_snapshot(one)
        await sync_to_async(change_status)(device, DeviceStatus.OFFLINE, "lwt")
        fleet_event = await next_event(fleet, events.DEVICE_STATUS_CHANGED)
        device_event = await next_event(one, events.DEVICE_STATUS_CHANGED)
        counters = await next_event(fleet, "FleetCounters")
        await fleet.disconnect()
        await one.disconnect()
        return snapshot, fleet_event, device_event, counters

    snapshot, fleet_event, device_event, counters = async_to_sync(scenario)()
    assert snapshot["device"]["status"] == "online"
    assert fleet_event["data"]["status"] == device_event["data"]["status"] == "offline"
    assert counters["data"]["devices"]["offline"] == 1


def test_telemetry_goes_to_the_device_socket_only():
    device = make_device()
    token = str(AccessToken.for_user(make_user(VIEWER)))

    async def scenario():
        fleet = communicator(f"/ws/fleet/?token={token}", headers=())
        one = communicator(f"/ws/devices/{device.device_id}/?token={token}", headers=())
        await connect_and_snapshot(fleet)
        await connect_and_snapshot(one)
        await sync_to_async(events.publish_event)(
            events.TELEMETRY_RECEIVED, {"voltage_avg": 230.1}, device_id=device.device_id
        )
        reading = await next_event(one, events.TELEMETRY_RECEIVED)
        fleet_quiet = await fleet.receive_nothing(timeout=0.5)
        await fleet.disconnect()
        await one.disconnect()
        return reading, fleet_quiet

    reading, fleet_quiet = async_to_sync(scenario)()
    assert reading["data"] == {"voltage_avg": 230.1}
    assert fleet_quiet


def test_telemetry_burst_is_coalesced_and_ends_on_the_latest_reading():
    device = make_device()
    token = str(AccessToken.for_user(make_user(VIEWER)))

    def burst():
        for seq in range(50):
            events.publish_event(events.TELEMETRY_RECEIVED, {"seq": seq}, device_id=device.device_id)
            if seq % 10 == 9:
                time.sleep(0.02)  # 50 events spread over ~100 ms

    async def scenario():
        one = communicator(f"/ws/devices/{device.device_id}/?token={token}", headers=())
        await connect_and_snapshot(one)
        await sync_to_async(burst)()
        received = []
        while not await one.receive_nothing(timeout=1.0):  # a timed-out receive would cancel the app
            received.append(await one.receive_json_from(timeout=TIMEOUT))
        await one.disconnect()
        return [m["data"]["seq"] for m in received if m.get("event") == events.TELEMETRY_RECEIVED]

    seqs = async_to_sync(scenario)()
    assert 1 <= len(seqs) <= 3, seqs
    assert seqs[0] == 0 and seqs[-1] == 49


def test_alert_created_reaches_the_fleet_socket():
    device = make_device()
    token = str(AccessToken.for_user(make_user(VIEWER)))

    def raise_one():
        from alerts.models import Alert

        alert = Alert.objects.create(
            device=device, alert_type=AlertType.OVERVOLTAGE, severity=AlertSeverity.CRITICAL, message="V1 254 V"
        )
        from devices.live import alert_payload

        events.publish_event(events.ALERT_CREATED, alert_payload(alert), device_id=device.device_id)

    async def scenario():
        fleet = communicator(f"/ws/fleet/?token={token}", headers=())
        await connect_and_snapshot(fleet)
        await sync_to_async(raise_one)()
        created = await next_event(fleet, events.ALERT_CREATED)
        counters = await next_event(fleet, "FleetCounters")
        await fleet.disconnect()
        return created, counters

    created, counters = async_to_sync(scenario)()
    assert created["data"]["severity"] == "critical"
    assert counters["data"]["alerts"]["critical"] == 1


def test_client_mistakes_get_an_error_and_the_socket_stays_open():
    token = str(AccessToken.for_user(make_user(VIEWER)))

    async def scenario():
        comm = communicator(f"/ws/fleet/?token={token}", headers=())
        await connect_and_snapshot(comm)
        answers = []
        for frame in ({"text_data": "not json"}, {"bytes_data": b"\x00"}, {"text_data": '{"action": "dance"}'}):
            await comm.send_to(**frame)
            answers.append(await comm.receive_json_from(timeout=TIMEOUT))
        await comm.send_json_to({"action": "ping"})
        answers.append(await comm.receive_json_from(timeout=TIMEOUT))
        await comm.disconnect()
        return answers

    answers = async_to_sync(scenario)()
    assert [answer["type"] for answer in answers] == ["error", "error", "error", "pong"]


def test_a_list_page_follows_its_devices_last_seen_times():
    from django.utils import timezone

    seen_at = timezone.now()
    shown = make_device(last_seen=seen_at, status=DeviceStatus.DEGRADED)
    make_device(last_seen=seen_at)  # not on the page
    token = str(AccessToken.for_user(make_user(VIEWER)))

    async def scenario():
        comm = communicator(f"/ws/fleet/?token={token}", headers=())
        await connect_and_snapshot(comm)
        await comm.send_json_to({"action": "follow", "device_ids": [shown.device_id, "ACV-NOT-THERE"]})
        seen = await next_event(comm, "DevicesSeen")
        await comm.send_json_to({"action": "follow", "device_ids": "all"})
        refused = await comm.receive_json_from(timeout=TIMEOUT)
        await comm.disconnect()
        return seen, refused

    seen, refused = async_to_sync(scenario)()
    assert seen["data"] == {shown.device_id: {"last_seen": seen_at.isoformat(), "status": "degraded"}}
    assert refused["type"] == "error"
