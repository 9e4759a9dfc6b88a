"""Scenario 1: a factory-fresh gateway is set up on its captive portal and lives its whole life in the console."""

import pytest

from acuvim_console.protocol.enums import DeviceOtaState
from devices.choices import CommandStatus, DeviceStatus
from devices.control.config_push import push_config
from devices.models import Command, Device
from firmware.models import OtaState, RolloutDevice
from firmware.rollouts import create_rollout
from telemetry.models import TelemetryRecord
from tests.e2e.conftest import advance_rollouts_until, configure_on_portal, eventually, portal_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_factory_fresh_gateway_is_configured_registers_streams_takes_config_and_updates(
    console, start_fleet, upload_image, operator, caplog
):
    fleet = start_fleet(1, factory_fresh=True)
    sim = fleet.devices[0]
    device = Device.objects.get(device_id=sim.device_id)

    # 1-2. No config: AP mode with the captive portal; the console has never heard from it.
    assert 'name="wifi.ssid"' in portal_page(sim)
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE and device.registered_at is None

    # 3. The engineer types WiFi, broker and console URL into the portal; the gateway reboots.
    portal_values = configure_on_portal(sim, console)

    # 4-5. It registers and the console shows it online over WiFi, with its boot facts.
    eventually(
        lambda: Device.objects.filter(pk=device.pk, status=DeviceStatus.ONLINE, registered_at__isnull=False).exists(),
        20,
        "the console shows the gateway online and registered",
    )
    device.refresh_from_db()
    assert (device.firmware_version, device.connection_type) == ("1.0.0", "wifi")
    assert device.meter["model"] == "Acuvim II"

    # 6-7. Telemetry rows and a heartbeat arrive.
    eventually(lambda: TelemetryRecord.objects.filter(device=device).exists(), 15, "a telemetry row is stored")
    eventually(
        lambda: Device.objects.filter(pk=device.pk, last_heartbeat__isnull=False).exists(), 10, "a heartbeat arrives"
    )
    first = TelemetryRecord.objects.filter(device=device).earliest("ts")
    assert first.source == "live" and 49.5 < first.frequency < 50.5 and 215 < first.voltage_avg < 245

    # 8-9. Push a config change: faster polling and telemetry. The console's desired document holds what
    # was typed in the portal (unchanged on the device, so no restart), so the hashes can be compared.
    version, command = push_config(
        device,
        {**portal_values, "modbus": {"poll_s": 1}, "intervals": {"telemetry_s": 1, "heartbeat_s": 2}},
        user=operator,
    )
    eventually(
        lambda: Command.objects.filter(pk=command.pk, status=CommandStatus.SUCCESS).exists(),
        15,
        "the gateway confirms set_config",
    )
    eventually(
        lambda: Device.objects.filter(pk=device.pk, applied_config_hash=version.config_hash).exists(),
        10,
        "the applied config hash equals the desired one",
    )
    version.refresh_from_db()
    assert version.applied_at is not None
    assert sim.config["modbus"]["poll_s"] == 1 and sim.boot_count == 2  # applied live, no restart
    eventually(
        lambda: Device.objects.filter(pk=device.pk, heartbeat_interval=2).exists(),
        10,
        "heartbeats report the new 2 s interval",
    )
    beats = []

    def two_more_heartbeats():
        latest = Device.objects.values_list("last_heartbeat", flat=True).get(pk=device.pk)
        if not beats or latest != beats[-1]:
            beats.append(latest)
        return len(beats) >= 3

    eventually(two_more_heartbeats, 10, "two more heartbeats", interval=0.1)
    assert 1.0 <= (beats[2] - beats[1]).total_seconds() <= 3.5, beats  # at the configured 2 s

    # 10-13. Upload 1.3.0 and deploy it: the gateway downloads from the console, reboots, comes back.
    firmware = upload_image("1.3.0")
    rollout = create_rollout(firmware, [device], user=operator)
    entry = RolloutDevice.objects.get(rollout=rollout, device=device)
    advance_rollouts_until(
        lambda: RolloutDevice.objects.filter(pk=entry.pk, state=OtaState.SUCCEEDED).exists(),
        40,
        f"the rollout device succeeds (gateway: {sim.snapshot()})",
    )
    eventually(
        lambda: Device.objects.filter(
            pk=device.pk, firmware_version="1.3.0", ota_state=DeviceOtaState.VALID, ota_previous_version="1.0.0"
        ).exists(),
        10,
        "the console shows 1.3.0, valid, previously 1.0.0",
    )
    assert sim.fw_version == "1.3.0"
    served = [
        r.getMessage() for r in caplog.records if r.name == "firmware.api.views" and "download by" in r.getMessage()
    ]
    assert served and all(sim.device_id in message for message in served), served  # the console served the image
    ota = Command.objects.get(device=device, command="ota_update")
    assert ota.status == CommandStatus.SUCCESS and "sig=" in ota.params["url"]
    assert ota.params["url"].startswith(console.url)
