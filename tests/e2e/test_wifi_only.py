"""Scenario 6: a gateway built without the SIM800L module works on WiFi alone, OTA included."""

import pytest

from devices.choices import CommandStatus, DeviceStatus
from devices.control.commands import send_command
from devices.models import Command, Device
from firmware.models import OtaState, RolloutDevice
from firmware.rollouts import create_rollout
from telemetry.models import TelemetryRecord
from tests.e2e.conftest import advance_rollouts_until, configure_on_portal, eventually, portal_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_gateway_without_modem_runs_on_wifi_updates_over_wifi_and_buffers_when_wifi_drops(
    console, start_fleet, upload_image, operator
):
    fleet = start_fleet(1, factory_fresh=True, has_gsm=False)
    sim = fleet.devices[0]
    device = Device.objects.get(device_id=sim.device_id)

    # The portal of a board without modem asks nothing about GSM.
    page = portal_page(sim)
    assert 'name="wifi.ssid"' in page and "gsm." not in page and "SIM PIN" not in page
    configure_on_portal(sim, console)

    # The console learns from the registration and heartbeats that there is no GSM.
    eventually(
        lambda: Device.objects.filter(pk=device.pk, status=DeviceStatus.ONLINE, gsm_ok=False).exists(),
        20,
        "online, heartbeat reporting GSM unavailable",
    )
    device.refresh_from_db()
    assert "gsm" not in device.capabilities and "wifi" in device.capabilities
    assert (device.connection_type, device.imei) == ("wifi", "")

    # Faster readings for the rest of the test (a factory-fresh gateway reports every 5 s).
    faster = send_command(device, "set_intervals", {"poll_s": 1, "telemetry_s": 1}, user=operator)
    eventually(lambda: Command.objects.filter(pk=faster.pk, status=CommandStatus.SUCCESS).exists(), 10, "intervals set")

    # GSM transport modes are refused by the gateway: it stays WiFi-only.
    refused = send_command(device, "set_transport", {"mode": "gsm_preferred"}, user=operator)
    eventually(
        lambda: Command.objects.filter(pk=refused.pk, status=CommandStatus.ERROR, error_code="no_modem").exists(),
        10,
        "set_transport gsm_preferred refused with no_modem",
    )
    assert sim.transport == "wifi"

    # OTA over WiFi.
    rollout = create_rollout(upload_image("1.3.0"), [device], user=operator)
    advance_rollouts_until(
        lambda: RolloutDevice.objects.filter(rollout=rollout, state=OtaState.SUCCEEDED).exists(),
        40,
        f"the update over WiFi succeeds (gateway: {sim.snapshot()})",
    )
    eventually(
        lambda: Device.objects.filter(pk=device.pk, firmware_version="1.3.0", connection_type="wifi").exists(),
        10,
        "the console shows 1.3.0 on WiFi",
    )

    # WiFi drops: with nowhere to fail over to, the gateway buffers to SD; WiFi back, the buffer drains.
    sim.wifi_down()
    eventually(lambda: Device.objects.filter(pk=device.pk, status=DeviceStatus.OFFLINE).exists(), 10, "offline (LWT)")
    sim.wait_for(lambda d: d.sd_queued >= 3 and d.transport is None, 15)
    sim.wifi_up()
    eventually(
        lambda: TelemetryRecord.objects.filter(device=device, source="sd").count() >= 3,
        20,
        "the buffered records arrive with source sd",
    )
    eventually(
        lambda: Device.objects.filter(pk=device.pk, status=DeviceStatus.ONLINE, connection_type="wifi").exists(),
        10,
        "back online on WiFi",
    )
