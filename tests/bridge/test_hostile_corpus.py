"""A generated hostile corpus: every field of every payload kind given every wrong value, through the bridge.

Each message must be handled or refused with a reason; none may reach a handler that then fails
(`handler_error` would mean a gap in the checks), and the good messages sent after them all apply.
"""

import json
import time

from acuvim_console.protocol import payloads
from devices.models import Device
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device
from tests.support.metrics import metrics

# Raw JSON texts, so that values no Python object serialises to (huge integers, escapes) are included.
HOSTILE_VALUES = [
    '{"a": 1}',
    "[1, 2]",
    "[]",
    "{}",
    "true",
    "false",
    "-1",
    "18446744073709551617",
    "1" + "0" * 400,
    "1e308",
    "-1e308",
    "0.5",
    '""',
    '"' + "x" * 4000 + '"',
    '"\\u0000"',
    '"\\ud800"',
    '"<script>alert(1)</script>"',
    '"ACV-AABBCCDDEEFF"',
    '{"a": ' * 40 + "1" + "}" * 40,
]


def with_field(document: dict, path: tuple[str, ...], raw_value: str) -> bytes:
    """The document as JSON text with the field at `path` replaced by a raw JSON value."""
    marker = "__HOSTILE__"
    target = document = json.loads(json.dumps(document))
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = marker
    return json.dumps(document).replace(f'"{marker}"', raw_value).encode()


def field_paths(spec: dict) -> list[tuple[str, ...]]:
    paths = []
    for name, field in spec.items():
        paths.append((name,))
        paths.extend((name, inner) for inner in field.fields)
    return paths


def corpus(device_id: str) -> list[tuple[str, bytes]]:
    now = time.time()
    kinds = [
        (f"devices/register/{device_id}", messages.registration(device_id), payloads.REGISTRATION_FIELDS),
        (f"acuvim/{device_id}/status", {"state": "online", "ts": now}, payloads.STATUS_FIELDS),
        (f"acuvim/{device_id}/heartbeat", messages.heartbeat(), payloads.HEARTBEAT_FIELDS),
        (
            f"acuvim/{device_id}/alerts",
            {"ts": now, "type": "overvoltage", "sev": "warning", "state": "raised", "msg": "V1 high"},
            payloads.ALERT_FIELDS,
        ),
        (
            f"acuvim/{device_id}/resp",
            {"req": "r-1", "cmd": "ping", "status": "success", "ts": now, "data": {}},
            payloads.RESPONSE_FIELDS,
        ),
    ]
    telemetry_spec = {name: payloads.Field("number") for name in payloads.NUMERIC_TELEMETRY_FIELDS}
    telemetry_spec |= {"ts": payloads.Field("ts"), "seq": payloads.Field("int"), "src": payloads.Field("str")}
    telemetry_spec |= {"conn": payloads.Field("str"), "extra": payloads.Field("any")}
    kinds.append((f"acuvim/{device_id}/telemetry", messages.reading(now - 3600), telemetry_spec))
    return [
        (topic, with_field(document, path, value))
        for topic, document, spec in kinds
        for path in field_paths(spec)
        for value in HOSTILE_VALUES
    ]


def test_every_wrong_value_in_every_field_is_handled_or_refused_never_a_handler_failure(
    bridge, device_client, settings
):
    settings.MQTT_MAX_PAYLOAD_BYTES = 64 * 1024
    device = make_device(status="offline", last_heartbeat=None)
    hostile = corpus(device.device_id)
    assert len(hostile) > 1500
    for topic, payload in hostile:
        device_client.send(topic, payload, qos=0)
    # The good messages after the corpus: each lane must still be working, in order.
    device_client.send(f"acuvim/{device.device_id}/telemetry", messages.reading(time.time(), seq=424242))
    device_client.send(f"acuvim/{device.device_id}/heartbeat", messages.heartbeat(rssi=-42))
    device_client.send(f"acuvim/{device.device_id}/status", {"state": "online", "ts": time.time()})

    wait_until(lambda: TelemetryRecord.objects.filter(device=device, seq=424242).exists(), timeout=60)
    wait_until(lambda: Device.objects.get(pk=device.pk).signal_strength == -42, timeout=60)
    snapshot = metrics.snapshot()
    assert snapshot["received_total"] == len(hostile) + 3
    assert "handler_error" not in snapshot["rejected"]
    assert snapshot["handler_errors"] == 0
    assert snapshot["worker_restarts"] == 0
    assert snapshot["rejected_total"] > len(hostile) // 2
