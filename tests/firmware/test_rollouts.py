"""Rollout planning and progression, driven through the real command and heartbeat handlers."""

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from acuvim_console.protocol.enums import DeviceOtaState
from acuvim_console.protocol.payloads import parse_heartbeat, parse_response
from devices.choices import CommandStatus, DeviceStatus
from devices.control.commands import handle_response
from devices.health.heartbeats import handle_heartbeat
from devices.models import Command
from firmware.download_links import verify_download
from firmware.models import OtaState, Rollout, RolloutDevice, RolloutStatus
from firmware.rollouts import (
    RolloutError,
    advance_rollouts,
    cancel_rollout,
    create_rollout,
    pause_rollout,
    plan,
    resume_rollout,
    retry_failed,
)
from tests.control.live_events import LiveEvents
from tests.factories import make_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def firmware(make_firmware):
    return make_firmware("1.3.0", mandatory=True)


def fleet(count, **fields):
    return [make_device(**fields) for _ in range(count)]


def entry(device) -> RolloutDevice:
    return RolloutDevice.objects.select_related("command").get(device=device)


def respond(device, status, **extra):
    command = entry(device).command
    payload = parse_response({"req": command.request_id, "cmd": "ota_update", "status": status, **extra})
    handle_response(device, payload, timezone.now())


def heartbeat(device, fw, ota_state=DeviceOtaState.VALID, prev="1.2.0"):
    device.refresh_from_db()
    beat = parse_heartbeat({"fw": fw, "uptime": 12, "boot": 3, "ota": {"state": str(ota_state), "prev": prev}})
    handle_heartbeat(device, beat, timezone.now())


def succeed(device, version="1.3.0"):
    respond(device, "progress", stage="rebooting", progress=100)
    respond(device, "success")
    heartbeat(device, version)


def states(rollout) -> dict[str, str]:
    return {row.device.device_id: row.state for row in rollout.devices.select_related("device")}


def refreshed(rollout) -> Rollout:
    rollout.refresh_from_db()
    return rollout


# --- plan -----------------------------------------------------------------------------------------


def test_plan_skips_each_unfit_device_with_its_reason(firmware, make_firmware, operator):
    ok = make_device(firmware_version="1.2.0")
    pending = make_device(status=DeviceStatus.PENDING)
    gone = make_device(status=DeviceStatus.DECOMMISSIONED)
    current = make_device(firmware_version="1.3.0")
    newer = make_device(firmware_version="1.10.0")
    busy = make_device()
    create_rollout(firmware, [busy], user=operator)
    eligible, skipped = plan(firmware, [ok, pending, gone, current, newer, busy])
    assert eligible == [ok]
    reasons = {device.device_id: reason for device, reason in skipped}
    assert "pending" in reasons[pending.device_id]
    assert "decommissioned" in reasons[gone.device_id]
    assert reasons[current.device_id] == "already runs 1.3.0"
    assert "downgrade" in reasons[newer.device_id]
    assert reasons[busy.device_id] == "already in a running rollout of 1.3.0"
    assert [d for d in plan(firmware, [newer], allow_downgrade=True)[0]] == [newer]

    board = make_firmware("1.4.0", hardware="Other board")
    _, skipped = plan(board, [ok])
    assert "does not match" in skipped[0][1]
    board.active = False
    assert plan(board, [ok])[1][0][1] == "firmware 1.4.0 is inactive"


def test_create_rollout_refuses_when_nobody_is_eligible(firmware, operator):
    with pytest.raises(RolloutError, match="None of the 1 devices"):
        create_rollout(firmware, [make_device(firmware_version="1.3.0")], user=operator)
    with pytest.raises(RolloutError, match="wave size or a wave percentage"):
        create_rollout(firmware, fleet(2), user=operator, wave_size=1, wave_percent=10)


# --- waves ----------------------------------------------------------------------------------------


def test_first_wave_gets_a_signed_ota_update_and_the_rest_waits(firmware, operator):
    devices = fleet(5)
    rollout = create_rollout(firmware, devices, user=operator, wave_size=2)
    assert (rollout.status, rollout.current_wave, rollout.wave_count) == (RolloutStatus.RUNNING, 1, 3)
    assert sorted(rollout.devices.values_list("wave", flat=True)) == [1, 1, 2, 2, 3]
    sent = rollout.devices.filter(state=OtaState.SENT).select_related("command", "device")
    assert sent.count() == 2 and rollout.devices.filter(state=OtaState.QUEUED).count() == 3
    row = sent.first()
    params = row.command.params
    assert row.command.command == "ota_update" and row.command.created_by == operator
    assert (params["version"], params["sha256"], params["size"], params["mandatory"]) == (
        "1.3.0",
        firmware.sha256,
        firmware.file_size,
        True,
    )
    url = urlsplit(params["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://console.test/api/firmware/download/1.3.0"
    query = parse_qs(url.query)
    assert query["device_id"] == [row.device.device_id]
    verify_download("1.3.0", row.device.device_id, query["sig"][0])  # raises if not valid


def test_only_a_rollout_that_allows_downgrades_lets_the_gateway_go_back(firmware, make_firmware, operator):
    """The gateway refuses an older image (code `downgrade`) unless the command says `allow_downgrade`."""
    newer = make_device(firmware_version="1.4.0")
    create_rollout(firmware, [newer], user=operator, allow_downgrade=True)
    params = entry(newer).command.params
    assert params["allow_downgrade"] is True and params["version"] == "1.3.0"
    older = make_device(firmware_version="1.2.0")
    create_rollout(make_firmware("1.5.0"), [older], user=operator)
    assert "allow_downgrade" not in entry(older).command.params


def test_wave_percent_sizes_waves_from_the_eligible_count(firmware, operator):
    rollout = create_rollout(firmware, fleet(10), user=operator, wave_percent=30)
    assert rollout.wave_count == 4
    assert rollout.devices.filter(wave=1).count() == 3


def test_progress_then_success_only_after_the_device_reports_the_new_version_valid(firmware, operator):
    device = make_device()
    rollout = create_rollout(firmware, [device], user=operator)
    respond(device, "ack")
    respond(device, "progress", stage="downloading", progress=45)
    advance_rollouts()
    assert (entry(device).state, entry(device).progress) == (OtaState.DOWNLOADING, 45)
    respond(device, "progress", stage="verifying")
    advance_rollouts()
    assert entry(device).state == OtaState.VERIFYING
    respond(device, "success")
    advance_rollouts()
    assert entry(device).state == OtaState.REBOOTING  # the command's word is not enough
    assert refreshed(rollout).status == RolloutStatus.RUNNING
    heartbeat(device, "1.3.0", DeviceOtaState.PENDING_VERIFY)
    advance_rollouts()
    assert entry(device).state == OtaState.REBOOTING
    heartbeat(device, "1.3.0")
    advance_rollouts()
    assert entry(device).state == OtaState.SUCCEEDED and entry(device).finished_at
    assert refreshed(rollout).status == RolloutStatus.COMPLETED


def test_next_wave_starts_once_the_success_ratio_is_reached(firmware, operator):
    devices = fleet(6)
    rollout = create_rollout(firmware, devices, user=operator, wave_size=3, success_ratio=0.6)
    first = [row.device for row in rollout.devices.filter(wave=1).select_related("device")]
    succeed(first[0])
    advance_rollouts()
    assert refreshed(rollout).current_wave == 1
    succeed(first[1])  # 2 of 3 >= 60%: go on while the third is still downloading
    advance_rollouts()
    assert refreshed(rollout).current_wave == 2
    assert rollout.devices.filter(wave=2, state=OtaState.SENT).count() == 3


def test_failures_past_the_limit_pause_the_rollout_then_resume_and_retry(firmware, operator):
    devices = fleet(6)
    rollout = create_rollout(firmware, devices, user=operator, wave_size=3, max_failures=2)
    first = [row.device for row in rollout.devices.filter(wave=1).select_related("device")]
    respond(first[0], "error", code="sha_mismatch", msg="sha256 differs")
    advance_rollouts()
    assert entry(first[0]).state == OtaState.FAILED and "sha_mismatch" in entry(first[0]).reason
    assert refreshed(rollout).status == RolloutStatus.RUNNING
    respond(first[1], "error", code="download_failed", msg="http 503")
    advance_rollouts()
    rollout = refreshed(rollout)
    assert rollout.status == RolloutStatus.PAUSED and "2 devices failed" in rollout.pause_reason
    succeed(first[2])
    advance_rollouts()  # paused: devices in flight are still followed, no new wave starts
    assert entry(first[2]).state == OtaState.SUCCEEDED
    assert rollout.devices.filter(wave=2).exclude(state=OtaState.QUEUED).count() == 0

    assert retry_failed(rollout, user=operator) == 2
    rollout = refreshed(rollout)
    assert rollout.status == RolloutStatus.RUNNING
    assert {entry(d).state for d in first[:2]} == {OtaState.SENT}
    assert Command.objects.filter(device=first[0]).count() == 2  # a new command, not the failed one
    succeed(first[0])
    succeed(first[1])
    advance_rollouts()
    assert refreshed(rollout).current_wave == 2


def test_a_wave_that_ends_short_pauses_and_resume_accepts_the_shortfall(firmware, operator):
    devices = fleet(4)
    rollout = create_rollout(firmware, devices, user=operator, wave_size=2, success_ratio=1.0)
    first = [row.device for row in rollout.devices.filter(wave=1).select_related("device")]
    succeed(first[0])
    respond(first[1], "error", code="no_space", msg="partition too small")
    advance_rollouts()
    rollout = refreshed(rollout)
    assert rollout.status == RolloutStatus.PAUSED and "wave 1 ended with 1 of 2" in rollout.pause_reason
    resume_rollout(rollout, user=operator)
    rollout = refreshed(rollout)
    assert (rollout.status, rollout.current_wave) == (RolloutStatus.RUNNING, 2)
    assert rollout.devices.filter(wave=2, state=OtaState.SENT).count() == 2


def test_failure_percentage_counts_only_failures_since_the_last_resume(firmware, operator):
    devices = fleet(4)
    rollout = create_rollout(firmware, devices, user=operator, wave_size=2, max_failure_percent=50)
    first = [row.device for row in rollout.devices.filter(wave=1).select_related("device")]
    respond(first[0], "error", code="download_failed")
    advance_rollouts()
    assert refreshed(rollout).status == RolloutStatus.PAUSED  # 1 of 2 sent = 50%
    resume_rollout(rollout, user=operator)
    succeed(first[1])
    advance_rollouts()
    rollout = refreshed(rollout)
    assert rollout.status == RolloutStatus.RUNNING and rollout.current_wave == 2


def test_rolled_back_from_the_command_answer(firmware, operator):
    device = make_device()
    create_rollout(firmware, [device], user=operator)
    respond(device, "progress", stage="rebooting", progress=100)
    respond(device, "error", code="rolled_back", msg="self-test failed: no MQTT")
    heartbeat(device, "1.2.0", DeviceOtaState.ROLLED_BACK, prev="1.3.0")
    advance_rollouts()
    row = entry(device)
    assert row.state == OtaState.ROLLED_BACK and "self-test failed" in row.reason


def test_rolled_back_from_the_heartbeat_alone_after_the_reboot(firmware, operator):
    device = make_device()
    create_rollout(firmware, [device], user=operator)
    respond(device, "progress", stage="rebooting", progress=100)
    advance_rollouts()
    heartbeat(device, "1.2.0", DeviceOtaState.ROLLED_BACK, prev="1.3.0")
    advance_rollouts()
    row = entry(device)
    assert row.state == OtaState.ROLLED_BACK and "rolled back from 1.3.0" in row.reason


def test_an_old_rollback_report_does_not_fail_a_retry_still_downloading(firmware, operator):
    device = make_device(ota_state=DeviceOtaState.ROLLED_BACK, ota_previous_version="1.3.0")
    create_rollout(firmware, [device], user=operator)
    respond(device, "progress", stage="downloading", progress=10)
    heartbeat(device, "1.2.0", DeviceOtaState.ROLLED_BACK, prev="1.3.0")
    advance_rollouts()
    assert entry(device).state == OtaState.DOWNLOADING


def test_stuck_devices_time_out(firmware, operator, settings):
    settings.FIRMWARE_OTA_DEVICE_TIMEOUT_SECONDS = 600
    device = make_device()
    create_rollout(firmware, [device], user=operator)
    advance_rollouts(now=timezone.now() + timedelta(seconds=599))
    assert entry(device).state == OtaState.SENT
    advance_rollouts(now=timezone.now() + timedelta(seconds=601))
    row = entry(device)
    assert row.state == OtaState.TIMED_OUT and "10 min" in row.reason


def test_scheduled_rollout_waits_for_its_start_time(firmware, operator):
    start = timezone.now() + timedelta(hours=1)
    rollout = create_rollout(firmware, fleet(2), user=operator, start_at=start)
    assert rollout.status == RolloutStatus.SCHEDULED and not Command.objects.exists()
    advance_rollouts()
    assert refreshed(rollout).status == RolloutStatus.SCHEDULED
    advance_rollouts(now=start + timedelta(seconds=1))
    assert refreshed(rollout).status == RolloutStatus.RUNNING and Command.objects.count() == 2


def test_pause_holds_the_next_wave_and_cancel_stops_undelivered_commands(firmware, operator):
    online = make_device()
    offline, later = make_device(status=DeviceStatus.OFFLINE), make_device(status=DeviceStatus.OFFLINE)
    rollout = create_rollout(firmware, [later, offline, online], user=operator, wave_size=2)
    assert entry(online).wave == 1 and entry(later).wave == 2  # reachable devices go first
    respond(online, "ack")  # this one got its command; the offline one's is still pending
    pause_rollout(rollout, user=operator)
    assert refreshed(rollout).status == RolloutStatus.PAUSED and "paused by" in rollout.pause_reason
    with pytest.raises(RolloutError):
        pause_rollout(rollout, user=operator)
    cancel_rollout(rollout, user=operator)
    assert refreshed(rollout).status == RolloutStatus.CANCELLED
    assert entry(offline).state == OtaState.CANCELLED
    assert entry(offline).command.status == CommandStatus.EXPIRED  # never reaches the device later
    assert entry(later).state == OtaState.CANCELLED and entry(later).command is None
    assert entry(online).state == OtaState.SENT  # already on its way: followed to the end
    succeed(online)
    advance_rollouts()
    assert entry(online).state == OtaState.SUCCEEDED
    with pytest.raises(RolloutError):
        retry_failed(rollout, user=operator)


# --- events, concurrency, schedule ----------------------------------------------------------------


@pytest.fixture
def fleet_events():
    """What the live admin pages receive (the project's listener, bound like a websocket consumer)."""
    events = LiveEvents()
    yield events
    events.close()


def test_progress_is_announced_to_the_live_pages_after_commit(
    firmware, operator, fleet_events, django_capture_on_commit_callbacks
):
    devices = fleet(2, status=DeviceStatus.OFFLINE)  # offline: nothing is published to a broker
    with django_capture_on_commit_callbacks(execute=True):
        rollout = create_rollout(firmware, devices, user=operator, wave_size=1)
    created = [data for name, data in fleet_events.fleet() if name == "RolloutProgress"]
    assert created[-1]["rollout_id"] == str(rollout.pk)
    assert created[-1]["counts"]["sent"] == 1 and created[-1]["current_wave"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        RolloutDevice.objects.filter(device=devices[0]).update(started_at=timezone.now() - timedelta(hours=1))
        advance_rollouts()
    data = [data for name, data in fleet_events.fleet() if name == "RolloutProgress"][-1]
    changed = {row["device_id"]: row for row in data["devices"]}
    assert changed[devices[0].device_id]["state"] == "timed_out"


@pytest.mark.django_db(transaction=True)
def test_a_rollout_another_worker_is_advancing_is_skipped_not_blocked(firmware, operator):
    rollout = create_rollout(firmware, fleet(1, status=DeviceStatus.OFFLINE), user=operator)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                Rollout.objects.select_for_update().get(pk=rollout.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        assert advance_rollouts() == {"advanced": 0, "busy": 1}
    finally:
        release.set()
        holder.join(10)
    assert advance_rollouts() == {"advanced": 1, "busy": 0}


def test_advance_rollouts_is_a_periodic_task(settings):
    task, seconds = settings.PERIODIC_TASKS["firmware: advance rollouts"]
    assert import_string(task).name == task and 0 < seconds <= 60
    assert import_string(task)() == {"advanced": 0, "busy": 0}
