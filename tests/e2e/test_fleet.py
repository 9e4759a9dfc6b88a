"""Scenario 7: the console manages a fleet: dashboard, groups, group deploy, group config, offline alerts."""

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from alerts.models import Alert
from devices.choices import CommandStatus, DeviceStatus
from devices.control.commands import batch_summary
from devices.health.sweep import sweep
from devices.models import CommandBatch, Device
from firmware.models import OtaState, RolloutDevice
from groups.models import DeviceGroup
from tests.e2e.conftest import advance_rollouts_until, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BUILDINGS = {0: "Building A", 1: "Building A", 2: "Building A", 3: "Building B", 4: "Building B", 5: "Building B"}


def hang(sim) -> None:
    """The firmware stops running (stuck, watchdog not firing) while its TCP connection stays open.

    The simulator has no such fault, so the device's tick chain is cut on its own shard thread: no more
    heartbeats or telemetry, and no LWT until the broker's keepalive runs out (45 s, after the test).
    """
    sim.shard.call_soon(lambda: setattr(sim, "_generation", sim._generation + 1))


def test_console_manages_six_gateways_in_two_groups(console, start_fleet, upload_image, operator):
    fleet = start_fleet(6, groups=BUILDINGS)
    api = APIClient()
    api.force_authenticate(operator)
    eventually(
        lambda: Device.objects.filter(device_id__in=fleet.ids, status=DeviceStatus.ONLINE).count() == 6,
        25,
        "all 6 gateways online",
    )

    # The dashboard counts them.
    summary = api.get("/api/dashboard/summary").json()
    assert (summary["online"], summary["total"], summary["pending"]) == (6, 6, 0), summary

    building_a, building_b = DeviceGroup.objects.get(name="Building A"), DeviceGroup.objects.get(name="Building B")
    ids_a, ids_b = fleet.ids[:3], fleet.ids[3:]
    assert set(building_a.devices.values_list("device_id", flat=True)) == set(ids_a)

    # Deploy 1.3.0 to Building A through the REST API: its three gateways update, Building B does not.
    upload_image("1.3.0")
    answer = api.post(f"/api/groups/{building_a.pk}/deploy", {"version": "1.3.0"}, format="json")
    assert answer.status_code == 201, answer.content
    rollout_id = answer.json()["id"]
    advance_rollouts_until(
        lambda: RolloutDevice.objects.filter(rollout_id=rollout_id, state=OtaState.SUCCEEDED).count() == 3,
        45,
        f"the 3 gateways of Building A update ({[fleet.device(i).snapshot() for i in ids_a]})",
    )
    eventually(
        lambda: Device.objects.filter(device_id__in=ids_a, firmware_version="1.3.0", status="online").count() == 3,
        10,
        "Building A online with 1.3.0",
    )
    assert set(Device.objects.filter(device_id__in=ids_b).values_list("firmware_version", flat=True)) == {"1.0.0"}
    assert {fleet.device(i).fw_version for i in ids_a} == {"1.3.0"}

    # A config command to Building B: every gateway applies it.
    answer = api.post(
        f"/api/groups/{building_b.pk}/command",
        {"command": "set_config", "params": {"intervals": {"telemetry_s": 2}}},
        format="json",
    )
    assert answer.status_code == 202, answer.content
    batch = CommandBatch.objects.get(pk=answer.json()["batch_id"])
    eventually(
        lambda: batch_summary(batch).get(CommandStatus.SUCCESS) == 3,
        15,
        f"all 3 set_config commands succeed ({batch_summary(batch)})",
    )
    assert {fleet.device(i).config["intervals"]["telemetry_s"] for i in ids_b} == {2}

    # One gateway loses power (its LWT marks it offline at once); another hangs with its connection open,
    # so only the health sweep can notice it: offline after 5 missed heartbeats, with an alert.
    powered_off, hung = ids_b[1], ids_b[2]
    fleet.device(powered_off).broker_down()
    hang(fleet.device(hung))
    eventually(
        lambda: Device.objects.filter(device_id=powered_off, status=DeviceStatus.OFFLINE).exists(),
        10,
        "the powered-off gateway is offline (LWT)",
    )

    def swept_offline():
        sweep()
        return Device.objects.filter(device_id=hung, status=DeviceStatus.OFFLINE).exists()

    eventually(swept_offline, 20, "the health sweep takes the silent gateway offline", interval=0.5)
    alert = Alert.objects.get(device__device_id=hung, alert_type="device_offline", resolved_at__isnull=True)
    assert alert.severity == "critical"
    still_online = Device.objects.filter(device_id__in=fleet.ids, status=DeviceStatus.ONLINE)
    assert set(still_online.values_list("device_id", flat=True)) == set(fleet.ids) - {powered_off, hung}

    summary = api.get("/api/dashboard/summary").json()
    assert (summary["online"], summary["offline"]) == (4, 2) and summary["alerts"]["critical"] >= 1, summary

    # The powered-off gateway gets its alert once it has stayed away past the grace (a reboot would not).
    # The sweep is driven with a later `now`; the rest of the fleet is left as it would be at that time.
    gone = Device.objects.get(device_id=powered_off)
    assert not Alert.objects.filter(device=gone, alert_type="device_offline").exists()
    grace = max(
        settings.HEALTH_OFFLINE_ALERT_GRACE_SECONDS, settings.HEALTH_OFFLINE_AFTER_MISSED * gone.heartbeat_interval
    )
    sweep(now=gone.status_changed_at + timedelta(seconds=grace + 1))
    alert = Alert.objects.get(device=gone, alert_type="device_offline", resolved_at__isnull=True)
    assert alert.severity == "critical"
