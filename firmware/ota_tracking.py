"""Reading one device's OTA progress from what the console already stored: its command and its own reports.

The device answers the `ota_update` command with progress stages and, after the reboot, a final result;
its heartbeats and registration say which version runs and whether the OTA slot was kept (`valid`) or
abandoned (`rolled_back`). An OTA only counts as succeeded on the device's own word that the new version
booted and was marked valid: a success answer alone could come from a device that then crash-loops.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from acuvim_console.protocol.enums import DeviceOtaState, OtaStage
from devices.choices import FINAL_COMMAND_STATUSES, CommandStatus
from devices.models import Device
from firmware.models import OtaState, RolloutDevice
from firmware.versions import parse_version

ROLLED_BACK_CODE = "rolled_back"

OPEN_STATES = (OtaState.QUEUED, OtaState.SENT, OtaState.DOWNLOADING, OtaState.VERIFYING, OtaState.REBOOTING)
IN_FLIGHT_STATES = (OtaState.SENT, OtaState.DOWNLOADING, OtaState.VERIFYING, OtaState.REBOOTING)
FAILED_STATES = (OtaState.FAILED, OtaState.ROLLED_BACK, OtaState.TIMED_OUT)
FINAL_STATES = (*FAILED_STATES, OtaState.SUCCEEDED, OtaState.CANCELLED)

# The rollout state of each of the device's progress stages. The image is written to the OTA slot as it
# arrives, so `writing` is still part of the transfer.
STAGE_STATES = {
    OtaStage.DOWNLOADING: OtaState.DOWNLOADING,
    OtaStage.WRITING: OtaState.DOWNLOADING,
    OtaStage.VERIFYING: OtaState.VERIFYING,
    OtaStage.REBOOTING: OtaState.REBOOTING,
}


@dataclass(frozen=True)
class Observation:
    state: OtaState
    progress: int
    reason: str = ""

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


def same_version(reported: str, target: str) -> bool:
    """Whether a device's reported version is the target release (1.3 == v1.3.0); exact text if unparsable."""
    try:
        return parse_version(reported) == parse_version(target)
    except ValueError:
        return reported == target


def runs_valid(device: Device, version: str) -> bool:
    """The device booted `version` and kept it."""
    return same_version(device.firmware_version, version) and device.ota_state == DeviceOtaState.VALID


def observe(entry: RolloutDevice, target: str, now: datetime, timeout_s: int) -> Observation:
    """The state `entry` (an in-flight device) is in now, judged from its command and its device."""
    device, command = entry.device, entry.command
    if runs_valid(device, target):
        return Observation(OtaState.SUCCEEDED, 100)
    if command is not None and command.status == CommandStatus.ERROR:
        detail = command.error_message or command.error_code or "no detail"
        if command.error_code == ROLLED_BACK_CODE:
            return Observation(OtaState.ROLLED_BACK, entry.progress, f"rolled back after reboot: {detail}")
        return Observation(OtaState.FAILED, entry.progress, f"{command.error_code or 'error'}: {detail}"[:255])
    if _reported_rollback(entry, device, target):
        return Observation(
            OtaState.ROLLED_BACK,
            entry.progress,
            f"device reports it rolled back from {target} and runs {device.firmware_version or 'an unknown version'}",
        )
    if command is not None and command.status == CommandStatus.EXPIRED:
        return Observation(OtaState.TIMED_OUT, entry.progress, "the device stayed offline until the command expired")
    if entry.started_at and now - entry.started_at > timedelta(seconds=timeout_s):
        return Observation(
            OtaState.TIMED_OUT,
            entry.progress,
            f"no confirmed {target} within {timeout_s // 60} min (last state: {entry.state})",
        )
    return _progress(entry, command)


def _reported_rollback(entry: RolloutDevice, device: Device, target: str) -> bool:
    """A heartbeat or registration saying the device abandoned `target`.

    A device keeps reporting `rolled_back` until its next OTA, so the report only counts once this attempt
    got as far as the reboot (or its command ended) and the device spoke after the attempt began.
    """
    if device.ota_state != DeviceOtaState.ROLLED_BACK or not same_version(device.ota_previous_version, target):
        return False
    command_ended = entry.command is not None and entry.command.status in FINAL_COMMAND_STATUSES
    spoke_since = device.last_seen is not None and entry.started_at is not None and device.last_seen > entry.started_at
    return spoke_since and (entry.state == OtaState.REBOOTING or command_ended)


def _progress(entry: RolloutDevice, command) -> Observation:
    if command is None:
        return Observation(entry.state, entry.progress)
    if command.status == CommandStatus.SUCCESS:
        # The device says the new image passed its self-test; wait for its heartbeat to show it running.
        return Observation(OtaState.REBOOTING, 100)
    report = command.progress or {}
    state = STAGE_STATES.get(str(report.get("stage", "")))
    if state is None:
        return Observation(entry.state, entry.progress)
    if state == OtaState.DOWNLOADING:
        return Observation(state, _percent(report.get("progress"), entry.progress))
    return Observation(state, 100)


def _percent(value, fallback: int) -> int:
    try:
        return max(0, min(100, int(value)))
    except (TypeError, ValueError):
        return fallback
