"""The command service against the real broker and PostgreSQL: publish, answers, timeouts, expiry, offline devices."""

import time
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from acuvim_console.core.events import COMMAND_COMPLETED, COMMAND_UPDATED
from acuvim_console.core.metrics import COMMAND_PROBLEMS, counts
from acuvim_console.protocol.commands import CommandValidationError
from acuvim_console.protocol.payloads import parse_response
from devices.choices import CommandStatus, DeviceStatus
from devices.control.commands import (
    batch_summary,
    deliver_pending,
    expire_and_timeout,
    handle_response,
    queue_command,
    send_command,
    send_group_command,
)
from devices.models import Command, CommandBatch
from tests.control.mqtt_inbox import Inbox
from tests.factories import make_device, make_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def answers(broker):
    """What gateways publish on `acuvim/+/resp`, read back from the broker like the bridge would."""
    inbox = Inbox(broker.port, "acuvim/+/resp")
    yield inbox
    inbox.close()


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """send_command as a request would run it (or, with service=queue_command, as a rollout does):
    published when the transaction commits."""

    def send(*args, service=send_command, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(*args, **kwargs)

    return send


def answer(gateway, answers, device, payload):
    """The gateway publishes an answer; it travels through the broker and is handled as the bridge would."""
    gateway.publish(f"acuvim/{device.device_id}/resp", payload)
    topic, received = answers.next()
    assert topic == f"acuvim/{device.device_id}/resp"
    return handle_response(device, parse_response(received), timezone.now())


def test_command_round_trip_over_the_broker(gateway, answers, live_events, django_capture_on_commit_callbacks):
    device = make_device()
    live_events.follow(device.device_id)
    with django_capture_on_commit_callbacks(execute=True):
        command = send_command(device, "wifi_scan")
    assert command.status == CommandStatus.SENT and command.sent_at is not None

    topic, message = gateway.next()
    assert topic == f"acuvim/{device.device_id}/cmd"
    assert message["req"] == command.request_id and len(command.request_id) == 32
    assert message["cmd"] == "wifi_scan" and message["params"] == {}
    assert message["exp"] - message["ts"] in range(3599, 3601)

    with django_capture_on_commit_callbacks(execute=True):
        acked = answer(gateway, answers, device, {"req": command.request_id, "cmd": "wifi_scan", "status": "ack"})
    assert acked.status == CommandStatus.ACK and acked.acked_at is not None

    networks = {"networks": [{"ssid": "Plant-A", "rssi": -61, "ch": 6, "auth": "wpa2"}]}
    with django_capture_on_commit_callbacks(execute=True):
        done = answer(
            gateway,
            answers,
            device,
            {"req": command.request_id, "cmd": "wifi_scan", "status": "success", "data": networks, "ts": 1764000203},
        )
    command.refresh_from_db()
    assert done.status == command.status == CommandStatus.SUCCESS
    assert command.response == networks and command.completed_at >= command.acked_at >= command.sent_at

    on_device_page = [(name, data["status"]) for name, data in live_events.device()]
    assert on_device_page == [(COMMAND_UPDATED, "sent"), (COMMAND_UPDATED, "ack"), (COMMAND_COMPLETED, "success")]
    on_fleet_page = live_events.fleet()
    assert [(name, data["request_id"]) for name, data in on_fleet_page] == [(COMMAND_COMPLETED, command.request_id)]


def test_progress_is_stored_and_an_error_answer_finishes_the_command(gateway, answers, send):
    device = make_device()
    command = send(
        device,
        "ota_update",
        {
            "url": "https://console.example/fw/1.3.0",
            "version": "1.3.0",
            "sha256": "a" * 64,
            "size": 1000,
        },
        service=queue_command,  # only firmware deploys send ota_update
    )
    gateway.next()
    progress = {
        "req": command.request_id,
        "cmd": "ota_update",
        "status": "progress",
        "stage": "downloading",
        "progress": 45,
    }
    answer(gateway, answers, device, progress)
    command.refresh_from_db()
    assert command.status == CommandStatus.ACK
    assert command.progress["stage"] == "downloading" and command.progress["progress"] == 45
    assert command.timeout_s == 15 * 60

    answer(
        gateway,
        answers,
        device,
        {
            "req": command.request_id,
            "cmd": "ota_update",
            "status": "error",
            "code": "rolled_back",
            "msg": "self-test failed",
        },
    )
    command.refresh_from_db()
    assert (command.status, command.error_code, command.error_message) == ("error", "rolled_back", "self-test failed")


def test_unanswered_command_times_out_after_its_own_timeout():
    device = make_device(status=DeviceStatus.OFFLINE)
    ping = send_command(device, "ping", timeout_s=60)
    ota_like = send_command(device, "ping", timeout_s=900)
    sent_at = timezone.now()
    Command.objects.filter(pk__in=[ping.pk, ota_like.pk]).update(status=CommandStatus.SENT, sent_at=sent_at)

    assert expire_and_timeout(now=sent_at + timedelta(seconds=59))["timed_out"] == 0
    assert expire_and_timeout(now=sent_at + timedelta(seconds=61))["timed_out"] == 1
    ping.refresh_from_db()
    ota_like.refresh_from_db()
    assert ping.status == CommandStatus.TIMEOUT and ping.completed_at == sent_at + timedelta(seconds=61)
    assert ota_like.status == CommandStatus.SENT


def test_late_answer_after_timeout_is_ignored_and_counted(gateway, answers, send):
    device = make_device()
    command = send(device, "ping")
    gateway.next()
    expire_and_timeout(now=timezone.now() + timedelta(seconds=61))
    before = counts(COMMAND_PROBLEMS).get("response_already_timeout", 0)
    assert answer(gateway, answers, device, {"req": command.request_id, "cmd": "ping", "status": "success"}) is None
    command.refresh_from_db()
    assert command.status == CommandStatus.TIMEOUT and command.response is None
    assert counts(COMMAND_PROBLEMS).get("response_already_timeout", 0) == before + 1


def test_answers_for_unknown_or_foreign_requests_are_ignored(gateway, answers, send, caplog):
    device, other = make_device(), make_device()
    command = send(other, "ping")
    gateway.next()
    before = counts(COMMAND_PROBLEMS)
    assert answer(gateway, answers, device, {"req": "nope", "cmd": "ping", "status": "success"}) is None
    assert answer(gateway, answers, device, {"req": command.request_id, "cmd": "ping", "status": "success"}) is None
    command.refresh_from_db()
    assert command.status == CommandStatus.SENT
    assert counts(COMMAND_PROBLEMS).get("response_unknown_request", 0) == before.get("response_unknown_request", 0) + 1
    assert counts(COMMAND_PROBLEMS).get("response_foreign_request", 0) == before.get("response_foreign_request", 0) + 1
    assert f"{device.device_id}: response success for request nope ignored: unknown_request" in caplog.text


def test_a_repeated_answer_applies_once_and_request_ids_are_unique(gateway, answers, send):
    device = make_device()
    command = send(device, "ping")
    gateway.next()
    success = {"req": command.request_id, "cmd": "ping", "status": "success", "data": {"uptime": 5}}
    assert answer(gateway, answers, device, success).response == {"uptime": 5}
    assert answer(gateway, answers, device, success | {"data": {"uptime": 99}}) is None
    command.refresh_from_db()
    assert command.response == {"uptime": 5}
    with pytest.raises(IntegrityError):
        Command.objects.create(device=device, request_id=command.request_id, command="ping", expires_at=timezone.now())


def test_offline_device_gets_its_queued_commands_in_order_when_it_comes_back(gateway):
    device = make_device(status=DeviceStatus.OFFLINE)
    first = send_command(device, "get_status")
    second = send_command(device, "get_logs", {"lines": 20})
    assert gateway.empty_after(0.3)
    assert {first.status, second.status} == {CommandStatus.PENDING}

    device.status = DeviceStatus.ONLINE
    assert deliver_pending(device) == 2
    assert [gateway.next()[1]["req"] for _ in range(2)] == [first.request_id, second.request_id]
    assert set(Command.objects.values_list("status", flat=True)) == {CommandStatus.SENT}
    assert deliver_pending(device) == 0


def test_expired_command_is_never_sent(gateway):
    device = make_device(status=DeviceStatus.OFFLINE)
    swept = queue_command(device, "ping", expires_s=30)
    on_return = queue_command(device, "restart", {"delay_s": 5}, expires_s=30)
    assert expire_and_timeout(now=timezone.now() + timedelta(seconds=31))["expired"] == 2
    Command.objects.filter(pk=on_return.pk).update(
        status=CommandStatus.PENDING, completed_at=None, expires_at=timezone.now() - timedelta(seconds=1)
    )
    device.status = DeviceStatus.ONLINE
    assert deliver_pending(device) == 0
    assert gateway.empty_after(0.3)
    swept.refresh_from_db()
    on_return.refresh_from_db()
    assert swept.status == on_return.status == CommandStatus.EXPIRED
    assert swept.sent_at is None and on_return.sent_at is None


def test_unreachable_broker_leaves_the_command_pending_and_the_sweep_delivers_it(settings, gateway, broker, send):
    from acuvim_console.core import mqtt_publisher
    from tests.support.mosquitto import free_port

    device = make_device()
    settings.COMMAND_PUBLISH_TIMEOUT_SECONDS = 1
    settings.MQTT_URL = f"mqtt://127.0.0.1:{free_port()}"
    mqtt_publisher.close()
    command = send(device, "ping")
    assert command.status == CommandStatus.PENDING
    assert counts(COMMAND_PROBLEMS).get("publish_failed", 0) >= 1
    # The next commands do not each wait out the publish timeout while the broker is down.
    skipped_before = counts(COMMAND_PROBLEMS).get("publish_skipped", 0)
    started = time.monotonic()
    second = send(device, "get_status")
    assert second.status == CommandStatus.PENDING and time.monotonic() - started < 1
    assert counts(COMMAND_PROBLEMS).get("publish_skipped", 0) == skipped_before + 1

    settings.MQTT_URL = broker.url
    mqtt_publisher.close()
    assert expire_and_timeout(now=timezone.now() + timedelta(seconds=11))["redelivered"] == 2
    assert [gateway.next()[1]["req"] for _ in range(2)] == [command.request_id, second.request_id]
    command.refresh_from_db()
    assert command.status == CommandStatus.SENT


def test_group_command_fans_out_to_accepted_members_and_sums_up_the_outcomes(
    gateway, answers, django_capture_on_commit_callbacks
):
    group = make_group()
    answering, failing, silent = (make_device(group=group) for _ in range(3))
    away = make_device(group=group, status=DeviceStatus.OFFLINE)
    make_device(group=group, status=DeviceStatus.PENDING)  # not approved: never commanded
    make_device()  # not in the group

    with django_capture_on_commit_callbacks(execute=True):
        batch = send_group_command(group, "sd_status")
    received = {gateway.next()[0] for _ in range(3)}
    assert received == {f"acuvim/{d.device_id}/cmd" for d in (answering, failing, silent)}
    assert gateway.empty_after(0.3)

    by_device = {c.device_id: c for c in batch.commands.all()}
    assert set(by_device) == {answering.pk, failing.pk, silent.pk, away.pk}
    ok = by_device[answering.pk]
    answer(gateway, answers, answering, {"req": ok.request_id, "cmd": "sd_status", "status": "success", "data": {}})
    bad = by_device[failing.pk]
    answer(gateway, answers, failing, {"req": bad.request_id, "cmd": "sd_status", "status": "error", "code": "sd_fail"})
    expire_and_timeout(now=timezone.now() + timedelta(seconds=61))

    summary = batch_summary(batch)
    assert summary == {
        "pending": 1,
        "sent": 0,
        "ack": 0,
        "success": 1,
        "error": 1,
        "timeout": 1,
        "expired": 0,
        "total": 4,
        "open": 1,
        "finished": 3,
    }


def test_group_command_is_validated_once_before_anything_is_created():
    group = make_group()
    make_device(group=group)
    with pytest.raises(CommandValidationError) as caught:
        send_group_command(group, "sd_clear", {})
    assert caught.value.errors == {"confirm": "is required"}
    assert not CommandBatch.objects.exists() and not Command.objects.exists()


@pytest.mark.parametrize("status", [DeviceStatus.PENDING, DeviceStatus.DECOMMISSIONED])
def test_devices_that_are_not_accepted_receive_no_commands(status):
    device = make_device(status=status)
    with pytest.raises(CommandValidationError) as caught:
        send_command(device, "ping")
    assert caught.value.errors == {"device": f"{device.device_id} is {status}: only approved devices receive commands"}
    assert not Command.objects.exists()
