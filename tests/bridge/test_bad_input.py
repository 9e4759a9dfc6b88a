"""Bad messages are refused with a reason and a counter, acknowledged, and never stop the good ones."""

import json
import time

import pytest

from devices.models import Device, RejectedMessage
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device, next_device_id
from tests.support.metrics import metrics

YEAR = 365 * 24 * 3600


def test_bad_telemetry_interleaved_with_good_is_refused_and_counted(bridge, device_client, settings, caplog):
    device = make_device()
    topic = f"acuvim/{device.device_id}/telemetry"
    now = time.time()
    bad = [
        (b"not json at all", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"42", "not_an_object"),
        (b'"a string"', "not_an_object"),
        (json.dumps(messages.reading(now, v1="230.1")).encode(), "invalid_field"),
        (json.dumps(messages.reading(now, f=True)).encode(), "invalid_field"),
        (b'{"ts": 1764000000, "f": NaN}', "non_finite_number"),
        (b'{"ts": 1764000000, "f": Infinity}', "non_finite_number"),
        (b'{"ts": 1764000000, "f": 1e999}', "non_finite_number"),
        # An integer no number column holds: refused, and the writer thread carries on.
        (b'{"ts": 1764000000, "f": 1' + b"0" * 400 + b"}", "invalid_field"),
        (json.dumps(messages.reading(now + 3 * YEAR)).encode(), "ts_in_future"),
        (json.dumps(messages.reading(1262304000)).encode(), "ts_too_old"),
        (json.dumps(messages.reading("yesterday")).encode(), "invalid_field"),
        (json.dumps({"f": 50.0}).encode(), "missing_field"),
        (b"x" * (settings.MQTT_MAX_PAYLOAD_BYTES + 1), "payload_too_large"),
    ]
    good = 0
    for n, (payload, _) in enumerate(bad):
        device_client.send(topic, payload)
        device_client.send(topic, messages.reading(now - 100 + n, seq=n))
        good += 1
    # One bad record inside a GSM batch does not cost the others.
    device_client.send(topic, [messages.reading(now - 10, seq=100), messages.reading(now - 9, i1="x")])
    good += 1

    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == good)
    expected = {}
    for _, reason in [*bad, (None, "invalid_field")]:
        expected[reason] = expected.get(reason, 0) + 1
    wait_until(lambda: metrics.snapshot()["rejected"] == expected)
    assert metrics.snapshot()["stored"] == good
    line = next(r.getMessage() for r in caplog.records if "reason=ts_in_future" in r.getMessage())
    assert device.device_id in line and topic in line


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("acuvim/ACV-aabbccddeeff/telemetry", "invalid_device_id"),
        ("acuvim/not-a-device/heartbeat", "invalid_device_id"),
        ("devices/register/ACV-123", "invalid_device_id"),
    ],
)
def test_topics_with_invalid_device_ids_are_refused(bridge, device_client, topic, reason):
    device_client.send(topic, messages.reading(time.time()))
    wait_until(lambda: metrics.snapshot()["rejected"].get(reason) == 1)


def test_registration_naming_another_device_than_its_topic_is_refused(bridge, device_client):
    topic_id, payload_id = next_device_id(), next_device_id()
    device_client.send(f"devices/register/{topic_id}", messages.registration(payload_id))
    wait_until(lambda: metrics.snapshot()["rejected"].get("device_id_mismatch") == 1)
    assert not Device.objects.filter(device_id__in=[topic_id, payload_id]).exists()


def test_bad_control_messages_are_refused_and_the_next_good_one_applies(bridge, device_client):
    device = make_device(last_heartbeat=None)
    topic = f"acuvim/{device.device_id}/heartbeat"
    device_client.send(topic, messages.heartbeat(heap="lots"))
    device_client.send(topic, [messages.heartbeat()])
    device_client.send(f"acuvim/{device.device_id}/alerts", {"type": "overvoltage", "state": "raised"})
    device_client.send(f"acuvim/{device.device_id}/status", {"state": "sleeping"})
    device_client.send(topic, messages.heartbeat(heap=12345))

    wait_until(lambda: Device.objects.get(pk=device.pk).heap_free == 12345)
    assert metrics.snapshot()["rejected"] == {"invalid_field": 2, "not_an_object": 1, "missing_field": 1}


def test_telemetry_from_a_device_that_never_registered_is_counted(bridge, device_client):
    device_client.send(f"acuvim/{next_device_id()}/telemetry", messages.reading(time.time()))
    wait_until(lambda: metrics.snapshot()["rejected"].get("unknown_device") == 1)
    assert TelemetryRecord.objects.count() == 0


def test_a_failing_handler_for_one_device_does_not_stop_the_others(bridge, device_client, monkeypatch, settings):
    from acuvim_console.bridge import control
    from acuvim_console.protocol.topics import TopicKind

    broken, healthy = make_device(status="offline"), make_device(status="offline")
    validate, original = control.ROUTES[TopicKind.STATUS]

    def handle_status(device, payload, received_at):
        if device.pk == broken.pk:
            raise RuntimeError("handler bug")
        return original(device, payload, received_at)

    monkeypatch.setitem(control.ROUTES, TopicKind.STATUS, (validate, handle_status))
    device_client.send(f"acuvim/{broken.device_id}/status", {"state": "online", "ts": time.time()})
    device_client.send(f"acuvim/{healthy.device_id}/status", {"state": "online", "ts": time.time()})

    wait_until(lambda: Device.objects.get(pk=healthy.pk).status == "online")
    # Tried MQTT_HANDLER_ATTEMPTS times, then acknowledged and kept as a rejected message.
    wait_until(lambda: metrics.snapshot()["rejected"] == {"handler_error": 1})
    assert metrics.snapshot()["handler_errors"] == settings.MQTT_HANDLER_ATTEMPTS
    assert Device.objects.get(pk=broken.pk).status == "offline"
    kept = wait_until(lambda: RejectedMessage.objects.filter(device_id=broken.device_id).first())
    assert (kept.kind, kept.reason, kept.count) == ("status", "handler_error", 1)
    assert kept.detail == "RuntimeError: handler bug"
