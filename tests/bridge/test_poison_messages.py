"""No message a device sends can stop ingestion: each is stored or refused, acknowledged, and kept if refused.

The messages here each ended a worker thread before (so good devices stored nothing), and, never
acknowledged, came back after a restart to do it again.
"""

import json
import threading
import time

import pytest

from acuvim_console.bridge.dead_letters import dead_letters
from acuvim_console.bridge.service import Bridge
from devices.models import Device, RejectedMessage
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device
from tests.support.metrics import metrics


def deep(depth: int) -> bytes:
    return b'{"ts": 1764000000, "x": ' + b"[" * depth + b"]" * depth + b"}"


POISON_TELEMETRY = [
    (b'{"ts": null, "src": {"a": 1}}', "invalid_field"),
    (b'{"ts": null, "conn": ["wifi"]}', "invalid_field"),
    (b'{"ts": null, "src": 7}', "invalid_field"),
    (deep(3000), "payload_too_complex"),
    (deep(1000), "payload_too_complex"),
    (b'{"ts": 1764000000, "note": "\\ud800"}', "invalid_text"),
    (b'{"ts": 1764000000, "note": "a\\u0000b"}', "invalid_text"),
]


def test_poison_telemetry_between_good_readings_is_refused_and_the_good_ones_are_stored(
    bridge, device_client, settings
):
    settings.MQTT_MAX_PAYLOAD_BYTES = 64 * 1024  # let the deep documents reach the shape checks
    device = make_device()
    topic = f"acuvim/{device.device_id}/telemetry"
    now = time.time()
    for n, (payload, _) in enumerate(POISON_TELEMETRY):
        device_client.send(topic, payload)
        device_client.send(topic, messages.reading(now - 100 + n, seq=n))

    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == len(POISON_TELEMETRY))
    expected = {}
    for _, reason in POISON_TELEMETRY:
        expected[reason] = expected.get(reason, 0) + 1
    wait_until(lambda: metrics.snapshot()["rejected"] == expected)
    assert bridge.telemetry.threads[0].is_alive()
    kept = wait_until(
        lambda: RejectedMessage.objects.filter(device_id=device.device_id, reason="invalid_field").first()
    )
    assert kept.kind == "telemetry" and kept.count == 3
    assert "field src must be live or sd, got" in kept.detail or "field conn" in kept.detail


@pytest.mark.parametrize("kind", ["status", "heartbeat", "alerts", "resp"])
def test_a_deeply_nested_control_message_is_refused_and_the_next_one_applies(bridge, device_client, settings, kind):
    settings.MQTT_MAX_PAYLOAD_BYTES = 64 * 1024
    device = make_device(status="offline", last_heartbeat=None)
    device_client.send(f"acuvim/{device.device_id}/{kind}", b'{"state": ' + b"[" * 3000 + b"]" * 3000 + b"}")
    device_client.send(f"acuvim/{device.device_id}/status", {"state": "online", "ts": time.time()})
    wait_until(lambda: Device.objects.get(pk=device.pk).status == "online")
    assert metrics.snapshot()["rejected"] == {"payload_too_complex": 1}
    assert all(thread.is_alive() for thread in bridge.control.threads)


def test_a_refused_message_is_acknowledged_so_a_restarted_bridge_does_not_see_it_again(start_bridge, device_client):
    device = make_device()
    first = start_bridge(client_id="poison-restart")
    device_client.send(f"acuvim/{device.device_id}/telemetry", b'{"ts": null, "src": {"a": 1}}')
    wait_until(lambda: metrics.snapshot()["rejected"] == {"invalid_field": 1})
    first.stop()
    metrics.reset()

    start_bridge(client_id="poison-restart")  # same persistent session: unacknowledged messages would come back
    device_client.send(f"acuvim/{device.device_id}/telemetry", messages.reading(time.time()))
    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 1)
    time.sleep(0.3)
    assert metrics.snapshot()["rejected"] == {}


def test_rejections_are_summed_per_device_kind_and_reason_in_one_row(bridge, device_client):
    device = make_device()
    for _ in range(25):
        device_client.send(f"acuvim/{device.device_id}/telemetry", b"not json")
    wait_until(lambda: metrics.snapshot()["rejected"].get("invalid_json") == 25)
    dead_letters.flush()
    row = RejectedMessage.objects.get(device_id=device.device_id)
    assert (row.kind, row.reason, row.count, row.sample) == ("telemetry", "invalid_json", 25, "not json")
    assert row.first_seen <= row.last_seen
    assert str(row) == f"{device.device_id}: telemetry rejected: {row.detail}"


def test_rejected_message_samples_keep_hostile_bytes_printable(transactional_db):
    dead_letters.add(
        "ACV-0000000000AA", "telemetry", "acuvim/ACV-0000000000AA/telemetry", "invalid_json", "x", b"\x00\xff<b>"
    )
    dead_letters.flush()
    row = RejectedMessage.objects.get(device_id="ACV-0000000000AA")
    assert row.sample == "\\x00\\xff<b>"


def test_rejected_messages_are_bounded_in_rows_and_age(transactional_db, settings):
    settings.DEAD_LETTER_MAX_ROWS = 5
    for n in range(8):
        dead_letters.add(f"ACV-{n:012X}", "telemetry", "t", "invalid_json", "x", b"")
        dead_letters.flush()
    RejectedMessage.objects.filter(device_id="ACV-000000000007").update(last_seen="2020-01-01T00:00:00Z")
    removed = dead_letters.prune()
    assert removed == 3  # the one past DEAD_LETTER_KEEP_DAYS, then the oldest beyond five rows
    assert RejectedMessage.objects.count() == 5
    assert not RejectedMessage.objects.filter(device_id__in=["ACV-000000000007", "ACV-000000000000"]).exists()


def test_a_worker_thread_that_dies_anyway_is_restarted_and_counted(bridge, device_client, monkeypatch, caplog):
    """A BaseException escapes every per-message guard; the supervisor brings the worker back."""
    device = make_device(status="offline", last_heartbeat=None)
    killed = threading.Event()
    original = bridge.control._handle

    def handle_once_fatally(message):
        if not killed.is_set():
            killed.set()
            raise SystemExit("simulated thread death")
        return original(message)

    monkeypatch.setattr(bridge.control, "_handle", handle_once_fatally)
    device_client.send(f"acuvim/{device.device_id}/status", {"state": "online", "ts": time.time()})
    wait_until(lambda: killed.is_set())
    wait_until(lambda: metrics.snapshot()["worker_restarts"] == 1)
    device_client.send(f"acuvim/{device.device_id}/status", {"state": "online", "ts": time.time()})
    wait_until(lambda: Device.objects.get(pk=device.pk).status == "online")
    assert any("were restarted" in record.getMessage() for record in caplog.records)


def test_the_bridge_flushes_rejections_on_stop(start_bridge, device_client, settings):
    settings.MQTT_DEAD_LETTER_FLUSH_S = 3600  # only the final flush can write it
    device = make_device()
    bridge: Bridge = start_bridge()
    device_client.send(f"acuvim/{device.device_id}/heartbeat", json.dumps({"rssi": "strong"}))
    wait_until(lambda: metrics.snapshot()["rejected"] == {"invalid_field": 1})
    bridge.stop()
    assert RejectedMessage.objects.get(device_id=device.device_id).kind == "heartbeat"


def test_rejected_message_samples_mask_secrets_a_viewer_must_not_see(transactional_db):
    refused_answer = b'{"req": "r-1", "cmd": "get_config", "status": "succes", "data": {"wifi": {"psk": "hunter22"}}}'
    dead_letters.add("ACV-0000000000AB", "resp", "acuvim/ACV-0000000000AB/resp", "invalid_field", "x", refused_answer)
    dead_letters.flush()
    sample = RejectedMessage.objects.get(device_id="ACV-0000000000AB").sample
    assert "hunter22" not in sample
    assert '"psk": "***"' in sample and '"cmd": "get_config"' in sample
