"""The bridge's metrics port: `mqtt_bridge --metrics-port N` against the real Mosquitto, scraped over HTTP."""

import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from acuvim_console.bridge.metrics import MetricsServer
from acuvim_console.core import metrics as m
from devices.choices import CommandStatus
from devices.models import Command
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device
from tests.support.metrics import parse_scrape
from tests.support.ports import free_port, wait_for_port


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, ""


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_bridge_process_counts_what_it_received_stored_refused_and_ignored(
    transactional_db, mqtt_broker, bridge_processes, device_client
):
    device, now = make_device(), timezone.now()
    answered = Command.objects.create(
        device=device, request_id="r-answered", command="ping", status=CommandStatus.SENT, sent_at=now,
        expires_at=now + timedelta(hours=1),
    )
    late = Command.objects.create(
        device=device, request_id="r-late", command="ping", status=CommandStatus.TIMEOUT, sent_at=now,
        completed_at=now, expires_at=now + timedelta(hours=1),
    )
    port = free_port()
    bridge = bridge_processes(mqtt_broker.url, args=("--metrics-port", str(port)))
    wait_for_port(port, timeout=20)
    device_client.wait_for_bridge(bridge.client_id)
    url = f"http://127.0.0.1:{port}/metrics"

    telemetry = f"acuvim/{device.device_id}/telemetry"
    record = messages.reading(time.time() - 10, seq=1)
    device_client.send(telemetry, record)
    device_client.send(telemetry, record)  # a redelivery: stored once
    device_client.send(telemetry, b"{not json")
    for command in (answered, late):
        device_client.send(
            f"acuvim/{device.device_id}/resp", {"req": command.request_id, "cmd": "ping", "status": "success"}
        )

    def settled():
        """Every message of this test handled: the broker's shared session may hold others (retained status
        messages of earlier tests' devices), so the acknowledgement count alone would come too early."""
        status, text = get(url)
        samples = parse_scrape(text) if status == 200 else {}
        handled = (
            value(samples, "acuvim_telemetry_rows_stored_total") + value(samples, "acuvim_telemetry_duplicates_total")
            >= 2
            and value(samples, "acuvim_mqtt_messages_rejected_total", reason="invalid_json") >= 1
            and value(samples, "acuvim_command_problems_total", reason="response_already_timeout") >= 1
            and value(samples, "acuvim_mqtt_messages_received_total", kind="resp") >= 2
        )
        return samples if handled else None

    samples = wait_until(settled, timeout=20)
    assert value(samples, "acuvim_mqtt_messages_received_total", kind="telemetry") == 3
    assert value(samples, "acuvim_mqtt_messages_received_total", kind="resp") == 2
    assert value(samples, "acuvim_telemetry_rows_stored_total") == 1
    assert value(samples, "acuvim_telemetry_duplicates_total") == 1
    assert value(samples, "acuvim_mqtt_messages_rejected_total", reason="invalid_json") == 1
    assert value(samples, "acuvim_mqtt_messages_rejected_total", reason="invalid_field") == 0
    assert value(samples, "acuvim_telemetry_batch_rows_sum") == 2
    assert value(samples, "acuvim_telemetry_commit_seconds_count") >= 1
    assert value(samples, "acuvim_command_problems_total", reason="response_already_timeout") == 1
    assert value(samples, "acuvim_mqtt_bridge_connected") == 1
    assert value(samples, "acuvim_mqtt_queue_depth", queue="telemetry") == 0
    answered.refresh_from_db()
    assert answered.status == CommandStatus.SUCCESS
    # The database counts are the web's to read: the bridge does not run those queries.
    assert ("acuvim_commands", (("status", "success"),)) not in samples


def test_the_bridge_port_asks_for_the_token_when_one_is_set(settings):
    server = MetricsServer("127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.address[1]}/metrics"
    try:
        assert get(url)[0] == 200, "loopback clients may read it without a token"
        settings.METRICS_TOKEN = "bridge-scrape-token"
        assert get(url)[0] == 401
        assert get(url, token="nope")[0] == 401
        status, text = get(url, token="bridge-scrape-token")
        assert status == 200 and "acuvim_mqtt_messages_received_total" in text
    finally:
        server.stop()


def test_the_bridge_port_listens_on_loopback_by_default_and_refuses_other_clients(settings):
    assert settings.MQTT_METRICS_HOST == "127.0.0.1"
    assert m.scrape_refusal(None, "10.1.2.3") == 403
    assert m.scrape_refusal(None, "::1") is None
    assert m.scrape_refusal(None, "not an address") == 403


def test_a_metrics_port_that_is_no_port_is_refused_with_the_reason():
    with pytest.raises(CommandError, match="--metrics-port"):
        call_command("mqtt_bridge", "--metrics-port", "70000")
