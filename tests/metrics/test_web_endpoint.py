"""`/metrics` of the web process: who may read it, what it says, and labels that stay bounded."""

import uuid
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from acuvim_console.protocol.payloads import parse_response
from acuvim_console.protocol.reasons import RejectReason
from devices.choices import CommandStatus
from devices.control.commands import expire_and_timeout, handle_response
from devices.models import Command
from firmware.models import RolloutStatus
from tests.factories import make_device
from tests.support.metrics import parse_scrape

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.7"


def scrape(client, **extra) -> dict:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse_scrape(response.content.decode())


def routes(samples: dict) -> set[str]:
    return {dict(labels)["route"] for name, labels in samples if name == "acuvim_http_request_seconds_count"}


def test_loopback_clients_read_every_family_without_a_token(client):
    samples = scrape(client)
    for reason in RejectReason.values:
        assert ("acuvim_mqtt_messages_rejected_total", (("reason", reason),)) in samples
    for status in RolloutStatus.values:
        assert samples[("acuvim_firmware_rollouts", (("status", status),))] == 0
    assert ("acuvim_telemetry_commit_seconds_count", ()) in samples
    assert ("process_resident_memory_bytes", ()) in samples


def test_other_clients_are_refused_unless_a_trusted_proxy_forwards_a_loopback_one(client, settings):
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403
    # From an untrusted peer the header is ignored; behind a trusted proxy the forwarded client counts.
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 403
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200


def test_with_a_token_every_client_needs_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    for authorization in (None, "Bearer wrong", "s3cret-scrape-token", "Bearer s3cret-scrape-token2", "Bearer é"):
        headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
        response = client.get("/metrics", **headers)
        assert response.status_code == 401, authorization
        assert response["WWW-Authenticate"].startswith("Bearer")
    scrape(client, REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")


def test_only_get_is_served(client):
    assert client.post("/metrics").status_code == 405


def test_requests_are_timed_by_route_pattern_and_random_paths_add_no_label(client):
    device = make_device()
    client.get(f"/api/devices/{device.device_id}/commands")
    client.get("/api/devices/ACV-000000000000/commands")
    before = routes(scrape(client))
    assert "/api/devices/{device_id}/commands" in before
    assert not [route for route in before if device.device_id in route]
    for n in range(40):
        client.get(f"/{uuid.uuid4().hex}/{n}")
        client.get(f"/api/{uuid.uuid4().hex}")
        client.generic(uuid.uuid4().hex[:8].upper(), f"/api/devices/{device.device_id}")
    after = routes(scrape(client))
    assert after - before <= {"unmatched", "/api/", "/api/devices/{device_id}"}
    samples = scrape(client)
    methods = {dict(labels)["method"] for name, labels in samples if name == "acuvim_http_request_seconds_count"}
    assert "other" in methods and len(methods) <= 8


def test_commands_by_status_follow_a_success_and_a_timeout_at_the_next_scrape(client):
    device, now = make_device(), timezone.now()
    answered, silent = (
        Command.objects.create(
            device=device, request_id=f"r-{n}", command="ping", status=CommandStatus.SENT,
            sent_at=now - timedelta(seconds=120), expires_at=now + timedelta(hours=1),
        )
        for n in range(2)
    )

    def by_status() -> dict:
        return {dict(labels)["status"]: v for (name, labels), v in scrape(client).items() if name == "acuvim_commands"}

    assert by_status() == {status: (2 if status == "sent" else 0) for status in CommandStatus.values}
    handle_response(device, parse_response({"req": answered.request_id, "cmd": "ping", "status": "success"}), now)
    expire_and_timeout()  # the silent one has waited longer than its 60 s
    after = by_status()
    assert (after["sent"], after["success"], after["timeout"]) == (0, 1, 1)
    silent.refresh_from_db()
    assert silent.status == CommandStatus.TIMEOUT


def test_with_the_database_away_the_counts_are_left_out_and_the_rest_is_served(client):
    def refuse_commands(execute, sql, params, many, context):
        if Command._meta.db_table in sql:
            raise OperationalError("the database went away")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_commands):
        samples = scrape(client)
    assert not [name for name, _ in samples if name == "acuvim_commands"]
    assert samples[("acuvim_firmware_rollouts", (("status", "running"),))] == 0
    assert ("process_resident_memory_bytes", ()) in samples
