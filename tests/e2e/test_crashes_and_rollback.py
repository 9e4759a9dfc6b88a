"""Scenarios 4 and 5: a gateway that crashes (once, then in a loop) and a firmware that fails its self-test."""

import pytest
from django.db.models import Q

from acuvim_console.protocol.enums import DeviceOtaState
from alerts.models import Alert
from devices.choices import CommandStatus, DeviceStatus
from devices.models import Command, Device
from firmware.models import OtaState, RolloutDevice
from firmware.rollouts import create_rollout
from tests.e2e.conftest import advance_rollouts_until, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def online(device: Device, **fields) -> bool:
    return Device.objects.filter(pk=device.pk, status=DeviceStatus.ONLINE, **fields).exists()


def test_crash_is_reported_and_a_crash_loop_ends_in_ap_mode_with_the_console_seeing_it_go(console, start_fleet):
    fleet = start_fleet(1)
    sim = fleet.devices[0]
    device = Device.objects.get(device_id=sim.device_id)
    eventually(lambda: online(device, boot_count=1, reset_reason="poweron"), 20, "first boot online")

    # A watchdog reset: LWT, reboot, registration with boot 2 and the reason; the console raises an alert.
    sim.crash("wdt")
    eventually(lambda: online(device, boot_count=2, reset_reason="wdt"), 20, "boot 2 after a wdt reset")
    assert device.status_changes.filter(to_status=DeviceStatus.OFFLINE, reason__contains="lwt").exists()
    eventually(
        lambda: Alert.objects.filter(device=device, alert_type="unexpected_reset", resolved_at__isnull=True).exists(),
        10,
        "an unexpected_reset alert",
    )
    alert = Alert.objects.get(device=device, alert_type="unexpected_reset")
    assert alert.metadata["reset"] == "wdt"

    # Quick crashes in a row: at the fifth the gateway forgets its config and opens its portal (AP mode).
    sim.crash_loop(times=5)
    sim.wait_for(lambda d: d.mode == "ap", 30)
    eventually(
        lambda: Device.objects.filter(pk=device.pk, status=DeviceStatus.OFFLINE).exists(),
        10,
        "the console sees the gateway go offline",
    )

    # Reprovisioned through the portal, it comes back and reports the crash loop it survived.
    sim.provision()
    eventually(lambda: online(device), 20, "back online after reprovisioning")
    # Every boot of the loop was counted: the console's boot count is the gateway's (at least 7 boots).
    eventually(
        lambda: Device.objects.filter(pk=device.pk, boot_count=sim.boot_count, boot_count__gte=7).exists(),
        10,
        "the console's boot count matches the gateway's",
    )
    # The gateway's own crash_loop report (kept in NVS through the reset) is stored, or counted on the
    # crash_loop alert the console may already have raised from the boot counts in its heartbeats.
    eventually(
        lambda: (
            Alert.objects.filter(device=device, alert_type="crash_loop")
            .filter(Q(source="device") | Q(occurrences__gte=2))
            .exists()
        ),
        10,
        "the gateway's crash_loop report counted on the open alert",
    )


def test_firmware_failing_its_self_test_is_rolled_back_and_the_console_shows_it(
    console, start_fleet, upload_image, operator
):
    fleet = start_fleet(1)
    sim = fleet.devices[0]
    device = Device.objects.get(device_id=sim.device_id)
    eventually(lambda: online(device, firmware_version="1.0.0"), 20, "online with 1.0.0")

    sim.set_selftest_fails(True)  # the new image will never reach the broker
    rollout = create_rollout(upload_image("1.3.0"), [device], user=operator)
    entry = RolloutDevice.objects.get(rollout=rollout, device=device)
    advance_rollouts_until(
        lambda: RolloutDevice.objects.filter(pk=entry.pk, state=OtaState.ROLLED_BACK).exists(),
        40,
        f"the rollout device is rolled back (gateway: {sim.snapshot()})",
    )
    eventually(
        lambda: online(device, ota_state=DeviceOtaState.ROLLED_BACK), 10, "back online, heartbeat says rolled back"
    )
    device.refresh_from_db()
    assert (device.firmware_version, device.ota_previous_version) == ("1.0.0", "1.0.0")
    assert sim.fw_version == "1.0.0"
    command = Command.objects.get(device=device, command="ota_update")
    assert (command.status, command.error_code) == (CommandStatus.ERROR, "rolled_back")
    eventually(
        lambda: Alert.objects.filter(device=device, alert_type="ota_rolled_back").exists(),
        10,
        "the console's ota_rolled_back alert",
    )
    eventually(  # the device's own alert travels on another topic: it may land after the console's
        lambda: Alert.objects.filter(device=device, alert_type="ota_failed", source="device").exists(),
        10,
        "the device's ota_failed alert",
    )
