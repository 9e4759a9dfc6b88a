"""What is stored can be read: a hostile-but-accepted corpus, stored through the real ingest and control
handlers, read back through every read path (API, CSV, admin, websockets) without a 500 and escaped.

Besides what today's validators accept, two rows that broke every read path are stored exactly as the code
before the bounds stored them (raw text into the `json` column): a lone surrogate in an extra field and an
extra field nested 1,000 levels deep. They must come back as a placeholder, not as an error.
"""

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from django.utils import timezone

from acuvim_console.asgi import application
from acuvim_console.core import events, json_limits
from acuvim_console.protocol import payloads
from acuvim_console.protocol.quantities import QUANTITIES
from alerts.device_alerts import handle_device_alert
from devices.choices import CommandStatus
from devices.control.commands import handle_response
from devices.health.heartbeats import handle_heartbeat
from devices.models import Command, Device
from devices.registry.registration import handle_registration
from telemetry.ingest import Reading, store_readings
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = "<script>alert('x')</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
EVERY_PLANE = "A é 中 \U0001f600 \U00010348 \U00020000 \U000e0001 \U000f0000 \U0010fffd"
EMOJI = "👩\u200d🔧 🏳️\u200d🌈 🇺🇦"
RIGHT_TO_LEFT = "مرحبا \u202e\u05e2\u05d1\u05e8\u05d9\u05ea\u202c \u200f"
DEPTH_OF_LEGACY_ROW = 1000


def nested(levels: int) -> dict:
    document: dict = {"leaf": 1}
    for _ in range(levels - 1):
        document = {"n": document}
    return document


def hostile_extras() -> list[dict]:
    """Extra fields (and a few quantities) today's telemetry validator accepts and stores whole."""
    longest = payloads.settings.MQTT_MAX_PAYLOAD_BYTES - 1000  # a string as long as a payload allows
    return [
        {"note": EVERY_PLANE},
        {"note": EMOJI, "site": RIGHT_TO_LEFT},
        {"note": "x" * longest},
        {"note": "é" * (longest // 2)},
        {"pt": 1.7976931348623157e308, "pft": 5e-324, "f": -0.0},
        {"count53": 2**53, "count53_plus": 2**53 + 1, "count63": 2**63 - 1, "negative63": -(2**63)},
        {"meta": {"a": [1, {"b": "c", "d": [True, None]}], "e": {"f": {"g": 1.5}}}},
        {"note": SCRIPT, "html": '"><img src=x onerror=alert(1)>'},
    ]


def accepted_reading(device: Device, record: dict, received_at: datetime) -> Reading:
    """A reading exactly as the bridge's telemetry writer builds it: decoded, validated, stored as sent."""
    raw = json.dumps(record, ensure_ascii=False).encode()
    (parsed,), errors = payloads.parse_telemetry(payloads.decode_payload(raw), received_at)
    assert not errors
    return Reading(
        device_pk=device.pk,
        device_id=device.device_id,
        ts=parsed["ts"],
        ts_estimated=parsed["ts_estimated"],
        received_at=received_at,
        source=parsed["source"],
        connection=parsed["connection"],
        seq=parsed["seq"],
        record=parsed["record"],
        data_json=raw.decode(),
    )


def store_legacy_row(device: Device, ts: datetime, extra_text: str) -> None:
    """A row as the code before the bounds could leave it: the device's JSON text, untouched, in `extra`.

    Written with SQL because today's ingest would refuse to build it (the bridge refuses such documents
    long before): what must be tested is that rows already in a database still read back.
    """
    record = messages.reading(ts.timestamp(), seq=None)
    columns = {quantity.column: record[quantity.field] for quantity in QUANTITIES if quantity.field in record}
    names = ", ".join(["device_id", "ts", "received_at", "ts_estimated", "source", "connection", "extra", *columns])
    marks = ", ".join(["%s"] * (7 + len(columns)))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TelemetryRecord._meta.db_table} ({names}) VALUES ({marks})",
            [device.pk, ts, ts, False, "live", "wifi", f'{{"extra": {extra_text}}}', *columns.values()],
        )


@pytest.fixture
def corpus(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    now = timezone.now().replace(microsecond=0)
    device_id = "ACV-AABBCCDDEE01"
    registration = messages.registration(
        device_id, hw=f"{SCRIPT[:40]}", meter={"model": EVERY_PLANE, "note": SCRIPT, "big": 2**63 - 1}, caps=[EMOJI]
    )
    device = handle_registration(device_id, payloads.parse_registration(registration, device_id), now)
    Device.objects.filter(pk=device.pk).update(status="online", approved_at=now)
    device.refresh_from_db()
    handle_heartbeat(device, payloads.parse_heartbeat(messages.heartbeat(uptime=2**63 - 1, heap=2**31 - 1)), now)

    readings = [
        accepted_reading(device, messages.reading((now - timedelta(seconds=60 - i)).timestamp(), seq=i, **extra), now)
        for i, extra in enumerate(hostile_extras())
    ]
    assert store_readings(readings) == len(readings)
    store_legacy_row(device, now - timedelta(seconds=10), '"\\ud800"')
    deep_text = '{"n":' * (DEPTH_OF_LEGACY_ROW - 1) + '{"leaf":1}' + "}" * (DEPTH_OF_LEGACY_ROW - 1)
    store_legacy_row(device, now - timedelta(seconds=5), deep_text)

    for message in (SCRIPT, EVERY_PLANE, EMOJI + RIGHT_TO_LEFT, "m" * 500):
        alert = {"type": "overvoltage", "sev": "critical", "state": "raised", "msg": message, "val": 1.7e308}
        handle_device_alert(device, payloads.parse_alert({**alert, "type": f"t{len(message)}"}), now)

    answers = [
        {"lines": [SCRIPT, EVERY_PLANE, EMOJI, RIGHT_TO_LEFT], "big": 2**63 - 1, "tiny": 5e-324},
        {"nested": {"a": {"b": [1, 2, {"c": SCRIPT}]}}, "wide": {f"k{i}": i for i in range(2000)}},
    ]
    for answer in answers:
        answer_command(device, answer, now)
    error = {"status": "error", "code": "bad<b>", "msg": SCRIPT + EVERY_PLANE}
    Command.objects.create(
        device=device,
        request_id="r-err",
        command="ping",
        status=CommandStatus.SENT,
        expires_at=now + timedelta(hours=1),
    )
    handle_response(device, payloads.parse_response({"req": "r-err", "cmd": "ping", **error}), now)

    user = make_user()
    user.is_superuser = user.is_staff = True
    user.save()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return device, client, now


def answer_command(device: Device, answer: dict, now: datetime) -> None:
    """A get_logs command sent to the device and its success answer, through the real response handler."""
    command = Command.objects.create(
        device=device,
        request_id=uuid.uuid4().hex,
        command="get_logs",
        status=CommandStatus.SENT,
        expires_at=now + timedelta(hours=1),
    )
    response = {"req": command.request_id, "cmd": "get_logs", "status": "success", "data": answer}
    handle_response(device, payloads.parse_response(response), now)


def read(client: Client, path: str, **query) -> str:
    response = client.get(path, query)
    detail = getattr(response, "exc_info", None)
    assert response.status_code == 200, f"{path}: {response.status_code} {detail and detail[1]!r}"
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def test_every_api_read_path_renders_every_stored_record(corpus):
    device, client, now = corpus
    base = f"/api/devices/{device.device_id}"
    window = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(minutes=1)).isoformat()}
    latest = json.loads(read(client, f"{base}/telemetry"))
    assert latest["data"][json_limits.UNREADABLE_KEY].startswith("JSON nested deeper")
    assert latest["data"][json_limits.STORED_TEXT_KEY].startswith('{"extra":')  # the extra fields, as stored
    history = json.loads(read(client, f"{base}/telemetry/history", **window))
    assert sum(point["samples"] for point in history["points"]) == len(hostile_extras()) + 2
    csv_text = read(client, f"{base}/telemetry/export", **window)
    assert csv_text.count("\n") == len(hostile_extras()) + 3  # header, the corpus, the two legacy rows
    unquoted = csv_text.replace('""', '"')
    assert '"\\ud800"' in unquoted  # the legacy row's stored text, as stored
    assert json.dumps(EVERY_PLANE)[1:-1] in unquoted  # the extra fields are stored as JSON text, escaped
    for path in ("", "/status", "/commands", "/alerts", "/config"):
        body = json.loads(read(client, base + path))
        assert body is not None
    commands = json.loads(read(client, f"{base}/commands"))["results"]
    shown = json.dumps(commands, ensure_ascii=False)
    assert EVERY_PLANE in shown and SCRIPT in shown and "k1999" in shown
    for path in ("/api/devices", "/api/alerts", "/api/dashboard/summary", "/api/dashboard/stats"):
        read(client, path)


def test_every_admin_page_renders_every_stored_record_escaped(corpus, caplog):
    caplog.set_level(logging.ERROR, logger="django.request")
    device, client, _ = corpus
    pages = [
        "/admin/",
        "/admin/devices/device/",
        f"/admin/devices/device/{device.pk}/change/",
        "/admin/alerts/alert/",
        "/admin/devices/command/",
    ]
    pages += [f"/admin/alerts/alert/{pk}/change/" for pk in device.alerts.values_list("pk", flat=True)]
    pages += [f"/admin/devices/command/{pk}/change/" for pk in device.commands.values_list("pk", flat=True)]
    shown = {page: read(client, page) for page in pages}
    for page, html in shown.items():
        assert SCRIPT not in html, f"{page} shows device text unescaped"
    # Readings have no admin list since telemetry 0005 (a composite key); the device page, the API (above) and the
    # CSV export show them.
    assert any(ESCAPED_SCRIPT in html for page, html in shown.items() if "/alerts/alert/" in page)


def test_websocket_snapshots_and_events_carry_every_stored_record(corpus):
    device, client, now = corpus
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]

    async def snapshots():
        received = []
        for path in ("/ws/fleet/", f"/ws/devices/{device.device_id}/"):
            socket = WebsocketCommunicator(application, path, headers=headers)
            connected, _ = await socket.connect(timeout=5)
            assert connected
            received.append(await socket.receive_json_from(timeout=5))
            await socket.send_to(text_data=json.dumps({"action": "snapshot"}))
            received.append(await socket.receive_json_from(timeout=5))
            await socket.disconnect()
        return received

    fleet, fleet_again, one, _ = async_to_sync(snapshots)()
    assert fleet["type"] == one["type"] == "snapshot" and fleet == fleet_again
    shown = json.dumps(fleet, ensure_ascii=False)
    assert EVERY_PLANE in shown and SCRIPT in shown and EMOJI + RIGHT_TO_LEFT in shown
    assert len(one["commands"]) == 3 and one["device"]["uptime_s"] == 2**63 - 1
    assert any(event["event"] == "AlertCreated" for event in fleet["recent_events"])
    assert datetime.fromisoformat(one["telemetry"]["ts"]).astimezone(UTC) == now - timedelta(seconds=5)


def test_live_events_carry_hostile_records_as_they_are_stored(corpus):
    device, client, now = corpus
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    wanted = {events.TELEMETRY_RECEIVED, events.ALERT_CREATED, events.COMMAND_COMPLETED}

    def store_more():
        record = messages.reading(now.timestamp(), seq=99, note=SCRIPT + EVERY_PLANE, pt=1.7976931348623157e308)
        store_readings([accepted_reading(device, record, now)])
        alert = {"type": "late_one", "sev": "warning", "state": "raised", "msg": SCRIPT + EMOJI + RIGHT_TO_LEFT}
        handle_device_alert(device, payloads.parse_alert(alert), now)
        answer_command(device, {"lines": [SCRIPT, EVERY_PLANE], "big": 2**63 - 1}, now)

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/devices/{device.device_id}/", headers=headers)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await socket.receive_json_from(timeout=5)  # the snapshot
        await sync_to_async(store_more)()
        received = {}
        while not wanted <= received.keys():
            message = await socket.receive_json_from(timeout=5)
            received.setdefault(message.get("event"), message)
        await socket.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert received[events.TELEMETRY_RECEIVED]["data"]["power_total"] == 1.7976931348623157e308
    assert received[events.ALERT_CREATED]["data"]["message"] == SCRIPT + EMOJI + RIGHT_TO_LEFT
    assert received[events.COMMAND_COMPLETED]["data"]["response"]["lines"] == [SCRIPT, EVERY_PLANE]
