"""Judging one device's OTA from its command and its own reports (plain objects, no database)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from acuvim_console.protocol.enums import DeviceOtaState
from devices.choices import CommandStatus
from firmware.models import OtaState
from firmware.ota_tracking import observe, same_version

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
TIMEOUT_S = 1200


def entry(state=OtaState.SENT, progress=0, command=None, started=NOW - timedelta(minutes=1), **device):
    fields = {"firmware_version": "1.2.0", "ota_state": "valid", "ota_previous_version": "", "last_seen": None}
    return SimpleNamespace(
        state=state, progress=progress, started_at=started, command=command, device=SimpleNamespace(**fields | device)
    )


def command(status=CommandStatus.ACK, progress=None, code="", message=""):
    return SimpleNamespace(status=status, progress=progress, error_code=code, error_message=message)


@pytest.mark.parametrize(
    ("stage", "percent", "state", "progress"),
    [
        ("downloading", 45, OtaState.DOWNLOADING, 45),
        ("writing", 130, OtaState.DOWNLOADING, 100),  # clamped
        ("downloading", "junk", OtaState.DOWNLOADING, 7),  # keeps the last good value
        ("verifying", None, OtaState.VERIFYING, 100),
        ("rebooting", None, OtaState.REBOOTING, 100),
        ("dancing", 50, OtaState.SENT, 7),  # unknown stage: nothing learnt
    ],
)
def test_progress_stages_map_to_ota_states(stage, percent, state, progress):
    seen = observe(
        entry(progress=7, command=command(progress={"stage": stage, "progress": percent})), "1.3.0", NOW, 1200
    )
    assert (seen.state, seen.progress) == (state, progress)


def test_success_needs_the_new_version_reported_valid():
    done = command(CommandStatus.SUCCESS)
    assert observe(entry(command=done), "1.3.0", NOW, TIMEOUT_S).state == OtaState.REBOOTING
    pending = entry(command=done, firmware_version="1.3.0", ota_state=DeviceOtaState.PENDING_VERIFY)
    assert observe(pending, "1.3.0", NOW, TIMEOUT_S).state == OtaState.REBOOTING
    valid = entry(command=done, firmware_version="v1.3", ota_state=DeviceOtaState.VALID)
    assert observe(valid, "1.3.0", NOW, TIMEOUT_S).state == OtaState.SUCCEEDED


def test_error_answers_fail_or_roll_back_with_the_device_reason():
    failed = observe(entry(command=command(CommandStatus.ERROR, code="no_space", message="too big")), "1.3.0", NOW, 60)
    assert failed.state == OtaState.FAILED and failed.reason == "no_space: too big"
    back = observe(entry(command=command(CommandStatus.ERROR, code="rolled_back")), "1.3.0", NOW, 60)
    assert back.state == OtaState.ROLLED_BACK and back.is_final


def test_expired_command_and_silence_time_out():
    expired = observe(entry(command=command(CommandStatus.EXPIRED)), "1.3.0", NOW, TIMEOUT_S)
    assert expired.state == OtaState.TIMED_OUT and "offline" in expired.reason
    stale = entry(command=command(CommandStatus.ACK), started=NOW - timedelta(seconds=TIMEOUT_S + 1))
    assert observe(stale, "1.3.0", NOW, TIMEOUT_S).state == OtaState.TIMED_OUT


def test_version_comparison_is_by_precedence_with_a_textual_fallback():
    assert same_version("v1.3", "1.3.0") and not same_version("1.3.1", "1.3.0")
    assert same_version("custom-build", "custom-build") and not same_version("", "1.3.0")
