"""The fleet and device websockets against the real ASGI app: who may connect, the snapshot, the deltas.

Driven with asgiref's async_to_sync (no pytest-asyncio needed); the database is the real PostgreSQL,
with committed rows (transaction=True) because the consumers read it from other threads.
"""

import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from acuvim_console.asgi import application
from acuvim_console.core import events
from acuvim_console.operators.models import WebsocketTicket
from acuvim_console.operators.roles import VIEWER
from acuvim_console.operators.tickets import issue_ticket
from acuvim_console.protocol.enums import Severity
from alerts.models import AlertType
from devices.choices import DeviceStatus
from devices.cockpit.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from devices.registry.status import change_status
from tests.api.conftest import client_for
from tests.factories import make_device, make_user

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
TIMEOUT = 3


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [ORIGIN, (b"cookie", cookie)]


def tickets_for(user, count: int = 4):
    """Fresh single-use tickets, issued before the async scenario (which may not touch the database)."""
    return iter([issue_ticket(user) for _ in range(count)])


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


def test_bad_ticket_is_closed_with_4401_even_with_a_valid_session():
    headers = session_headers(make_user(VIEWER))

    async def scenario():
        return await close_code_of(communicator("/ws/fleet/?ticket=not-a-ticket", headers))

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


def test_a_ticket_and_a_bearer_subprotocol_both_authenticate():
    user = make_user(VIEWER)
    tickets, token = tickets_for(user), str(AccessToken.for_user(user))

    async def scenario():
        by_ticket = communicator(f"/ws/fleet/?ticket={next(tickets)}", headers=())
        await connect_and_snapshot(by_ticket)
        await by_ticket.disconnect()
        by_protocol = communicator("/ws/fleet/", headers=(), subprotocols=["acuvim.v1", f"bearer.{token}"])
        connected, protocol = await by_protocol.connect(timeout=TIMEOUT)
        snapshot = await by_protocol.receive_json_from(timeout=TIMEOUT)
        await by_protocol.disconnect()
        return connected, protocol, snapshot["type"]

    assert async_to_sync(scenario)() == (True, "acuvim.v1", "snapshot")


def test_a_ticket_works_once():
    ticket = next(tickets_for(make_user(VIEWER)))

    async def scenario():
        first = communicator(f"/ws/fleet/?ticket={ticket}", headers=())
        await connect_and_snapshot(first)
        await first.disconnect()
        return await close_code_of(communicator(f"/ws/fleet/?ticket={ticket}", headers=()))

    assert async_to_sync(scenario)() == CLOSE_UNAUTHENTICATED


def test_a_ticket_older_than_30_seconds_is_refused():
    ticket = next(tickets_for(make_user(VIEWER)))
    WebsocketTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    async def scenario():
        return await close_code_of(communicator(f"/ws/fleet/?ticket={ticket}", headers=()))

    assert async_to_sync(scenario)() == CLOSE_UNAUTHENTICATED


def test_a_jwt_in_the_url_is_refused_even_when_valid_and_with_a_session():
    """Issue 15: `/ws/fleet/?token=eyJ...` put a day-long credential into every access log."""
    user = make_user(VIEWER)
    token, headers = str(AccessToken.for_user(user)), session_headers(user)

    async def scenario():
        comm = communicator(f"/ws/fleet/?token={token}", headers)
        assert (await comm.connect(timeout=TIMEOUT))[0]
        return await comm.receive_output(timeout=TIMEOUT)

    closed = async_to_sync(scenario)()
    assert closed["code"] == CLOSE_UNAUTHENTICATED
    assert "POST /api/auth/ws-ticket" in closed["reason"]


def test_a_bearer_token_revoked_by_a_password_change_is_refused():
    user = make_user(VIEWER)
    token = str(AccessToken.for_user(user))
    user.set_password("another-long-passphrase-3")
    user.save()

    async def scenario():
        return await close_code_of(communicator("/ws/fleet/", headers=(), subprotocols=[f"bearer.{token}"]))

    assert async_to_sync(scenario)() == CLOSE_UNAUTHENTICATED


def test_the_ticket_endpoint_issues_tickets_to_logged_in_users_only():
    client = client_for(make_user(VIEWER))
    response = client.post("/api/auth/ws-ticket")
    assert response.status_code == 201 and response.json()["expires_in"] == 30
    assert client_for().post("/api/auth/ws-ticket").status_code == 401

    async def scenario():
        return await connect_and_snapshot(communicator(f"/ws/fleet/?ticket={response.json()['ticket']}", headers=()))

    assert async_to_sync(scenario)()["type"] == "snapshot"


def test_unknown_device_is_closed_with_4404():
    tickets = tickets_for(make_user(VIEWER))

    async def scenario():
        return await close_code_of(communicator(f"/ws/devices/ACV-000000000000/?ticket={next(tickets)}", headers=()))

    assert async_to_sync(scenario)() == CLOSE_NOT_FOUND


def test_status_change_reaches_fleet_and_device_sockets():
    device = make_device(status=DeviceStatus.ONLINE)
    tickets = tickets_for(make_user(VIEWER))

    async def scenario():
        fleet = communicator(f"/ws/fleet/?ticket={next(tickets)}", headers=())
        one = communicator(f"/ws/devices/{device.device_id}/?ticket={next(tickets)}", headers=())
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
    tickets = tickets_for(make_user(VIEWER))

    async def scenario():
        fleet = communicator(f"/ws/fleet/?ticket={next(tickets)}", headers=())
        one = communicator(f"/ws/devices/{device.device_id}/?ticket={next(tickets)}", headers=())
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
    tickets = tickets_for(make_user(VIEWER))

    def burst():
        for seq in range(50):
            events.publish_event(events.TELEMETRY_RECEIVED, {"seq": seq}, device_id=device.device_id)
            if seq % 10 == 9:
                time.sleep(0.02)  # 50 events spread over ~100 ms

    async def scenario():
        one = communicator(f"/ws/devices/{device.device_id}/?ticket={next(tickets)}", headers=())
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
    tickets = tickets_for(make_user(VIEWER))

    def raise_one():
        from alerts.models import Alert

        alert = Alert.objects.create(
            device=device, alert_type=AlertType.OVERVOLTAGE, severity=Severity.CRITICAL, message="V1 254 V"
        )
        from alerts.services import alert_event_data

        events.publish_event(events.ALERT_CREATED, alert_event_data(alert), device_id=device.device_id)

    async def scenario():
        fleet = communicator(f"/ws/fleet/?ticket={next(tickets)}", headers=())
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
    tickets = tickets_for(make_user(VIEWER))

    async def scenario():
        comm = communicator(f"/ws/fleet/?ticket={next(tickets)}", headers=())
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
    tickets = tickets_for(make_user(VIEWER))

    async def scenario():
        comm = communicator(f"/ws/fleet/?ticket={next(tickets)}", headers=())
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
