"""The admin cockpit through Django's test client: pages render, actions act, JSON views validate."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER
from acuvim_console.protocol.enums import Severity
from alerts.models import Alert, AlertType
from devices.choices import CommandStatus, DeviceStatus
from devices.models import Command, DeviceConfig
from tests.factories import make_device, make_group, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.cockpit.urls")]


@pytest.fixture
def operator_client(client):
    client.force_login(make_user(OPERATOR))
    return client


def make_alert(device, severity=Severity.WARNING, alert_type=AlertType.OVERVOLTAGE, **fields):
    return Alert.objects.create(device=device, alert_type=alert_type, severity=severity, message="V1 254 V", **fields)


def test_dashboard_shows_fleet_counters_and_the_fleet_socket(operator_client):
    make_device(status=DeviceStatus.ONLINE)
    make_device(status=DeviceStatus.ONLINE)
    offline = make_device(status=DeviceStatus.OFFLINE)
    make_alert(offline, Severity.CRITICAL)
    page = operator_client.get(reverse("admin:index")).content.decode()
    assert 'data-acv-socket="/ws/fleet/"' in page
    assert '<span class="acv-card__value" data-counter="devices.online">2</span>' in page
    assert '<span class="acv-card__value" data-counter="alerts.critical">1</span>' in page
    assert "acuvim/dashboard.js" in page


def test_dashboard_is_not_shown_to_users_without_device_permission(client):
    client.force_login(make_user(role=None, username="outsider"))
    client.user = None
    page = client.get(reverse("admin:index"))
    assert b"acv-dashboard" not in page.content


def test_device_list_has_live_badges_relative_times_and_signal(operator_client):
    device = make_device(
        status=DeviceStatus.DEGRADED, last_seen=timezone.now(), connection_type="wifi", signal_strength=-70
    )
    page = operator_client.get(reverse("admin:devices_device_changelist")).content.decode()
    assert f'data-device-status="{device.device_id}">Degraded</span>' in page
    assert f'data-device-last-seen="{device.device_id}"' in page
    assert "acv-signal--3" in page  # -70 dBm: three bars of four


def test_config_drift_filter_finds_devices_whose_desired_config_is_not_applied(operator_client):
    drifting = make_device(desired_config_hash="a" * 64, applied_config_hash="b" * 64)
    in_sync = make_device(desired_config_hash="c" * 64, applied_config_hash="c" * 64)
    page = operator_client.get(reverse("admin:devices_device_changelist") + "?drift=yes").content.decode()
    assert drifting.device_id in page and in_sync.device_id not in page


def test_bulk_send_command_shows_a_form_then_queues_one_command_per_approved_device(operator_client):
    online, offline = make_device(), make_device(status=DeviceStatus.OFFLINE)
    pending = make_device(status=DeviceStatus.PENDING)
    url = reverse("admin:devices_device_changelist")
    selection = {"action": "send_command", "_selected_action": [online.pk, offline.pk, pending.pk]}
    form_page = operator_client.post(url, selection)
    assert form_page.status_code == 200 and b"Send a command" in form_page.content
    bad = operator_client.post(url, {**selection, "apply": "1", "command": "get_logs", "params": '{"lines": 0}'})
    assert b"lines: must be from 1 to 500" in bad.content
    done = operator_client.post(url, {**selection, "apply": "1", "command": "ping", "params": ""})
    assert done.status_code == 302
    assert set(Command.objects.values_list("device__device_id", flat=True)) == {online.device_id, offline.device_id}
    assert Command.objects.get(device=offline).status == CommandStatus.PENDING


def test_add_to_group_moves_the_selection(operator_client):
    group = make_group("Plant A")
    devices = [make_device(), make_device()]
    url = reverse("admin:devices_device_changelist")
    selection = {"action": "add_to_group", "_selected_action": [d.pk for d in devices]}
    operator_client.post(url, {**selection, "apply": "1", "group": group.pk})
    assert group.devices.count() == 2


def test_viewer_does_not_get_the_acting_bulk_actions(client):
    client.force_login(make_user(VIEWER))
    make_device()
    page = client.get(reverse("admin:devices_device_changelist")).content.decode()
    assert "send_command" not in page and "approve_devices" not in page


def test_device_page_renders_the_cockpit_with_history_commands_and_config(operator_client):
    device = make_device()
    DeviceConfig.objects.create(
        device=device, version=1, document={"wifi": {"ssid": "Plant-A", "password": "hunter2"}}, config_hash="h"
    )
    make_alert(device)
    page = operator_client.get(reverse("admin:devices_device_change", args=[device.pk])).content.decode()
    assert f'data-acv-socket="/ws/devices/{device.device_id}/"' in page
    assert "vendor/uplot/uPlot.iife.min.js" in page
    assert "Plant-A" in page and "hunter2" not in page
    assert 'id="acv-command-form"' in page


def test_command_panel_validates_and_queues(operator_client):
    device = make_device()
    url = reverse("admin:devices_device_command", args=[device.pk])
    bad = operator_client.post(url, {"command": "set_transport", "params": {"mode": "pigeon"}}, "application/json")
    assert bad.status_code == 400 and "mode" in bad.json()["errors"]
    unknown = operator_client.post(url, {"command": "self_destruct"}, "application/json")
    assert unknown.status_code == 400 and "command" in unknown.json()["errors"]
    good = operator_client.post(url, {"command": "get_logs", "params": {"lines": 20}}, "application/json")
    assert good.status_code == 201
    assert good.json()["command"]["command"] == "get_logs"
    assert Command.objects.get(device=device).params == {"lines": 20}


def test_command_panel_refuses_viewers(client):
    client.force_login(make_user(VIEWER))
    device = make_device()
    response = client.post(
        reverse("admin:devices_device_command", args=[device.pk]), {"command": "ping"}, "application/json"
    )
    assert response.status_code == 403 and not Command.objects.exists()


def test_config_editor_pushes_only_the_changed_settings(operator_client):
    device = make_device()
    url = reverse("admin:devices_device_config", args=[device.pk])
    page = operator_client.get(reverse("admin:devices_device_change", args=[device.pk]))
    shown = json.loads(page.context["desired_config_json"])
    shown["intervals"]["telemetry_s"] = 10
    response = operator_client.post(url, {"config": shown}, "application/json")
    assert response.status_code == 200, response.content
    assert response.json()["changes"] == {"intervals": {"telemetry_s": 10}}
    assert Command.objects.get(device=device).params == {"intervals": {"telemetry_s": 10}}
    device.refresh_from_db()
    assert device.desired_config_hash == response.json()["desired_config_hash"]
    again = operator_client.post(url, {"config": shown}, "application/json")
    assert again.status_code == 400 and again.json()["errors"] == {"config": "nothing changed"}
    shown["modbus"]["baud"] = 1234
    invalid = operator_client.post(url, {"config": shown}, "application/json")
    assert invalid.status_code == 400 and "modbus.baud" in invalid.json()["errors"]


def test_alert_actions_acknowledge_and_resolve(operator_client):
    device = make_device()
    alert = make_alert(device)
    url = reverse("admin:alerts_alert_changelist")
    operator_client.post(url, {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.acknowledged and alert.acknowledged_at is not None
    operator_client.post(url, {"action": "resolve", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_alert_filters_by_state_and_device_id(operator_client):
    first, second = make_device(), make_device()
    make_alert(first, alert_type=AlertType.LOW_HEAP)
    make_alert(second, alert_type=AlertType.SD_FULL, resolved_at=timezone.now())
    url = reverse("admin:alerts_alert_changelist")

    def listed(query):
        return [alert.alert_type for alert in operator_client.get(url + query).context["cl"].result_list]

    assert listed("?state=open") == ["low_heap"]
    assert listed(f"?device_id={second.device_id}") == ["sd_full"]
    assert listed(f"?device_id={second.device_id}&state=open") == []


def test_group_list_counts_devices_by_status(client):
    client.force_login(make_user(ADMIN))
    group = make_group("Plant B")
    for status in (DeviceStatus.ONLINE, DeviceStatus.ONLINE, DeviceStatus.OFFLINE):
        make_device(group=group, status=status)
    page = client.get(reverse("admin:groups_devicegroup_changelist"))
    row = page.context["cl"].result_list[0]
    assert (row._device_count, row._online, row._offline, row._degraded) == (3, 2, 1, 0)


def test_group_command_sends_a_batch_and_shows_its_summary(operator_client):
    group = make_group("Plant C")
    make_device(group=group)
    make_device(group=group, status=DeviceStatus.OFFLINE)
    url = reverse("admin:groups_devicegroup_changelist")
    selection = {"action": "send_group_command", "_selected_action": [group.pk]}
    page = operator_client.post(url, {**selection, "apply": "1", "command": "sd_status", "params": "{}"})
    assert page.status_code == 200
    assert b"sd_status sent to 1 group(s)" in page.content
    assert Command.objects.filter(batch__group=group).count() == 2


def test_telemetry_history_view_buckets_by_range_and_refuses_unknown_ranges(operator_client):
    from telemetry.models import TelemetryRecord

    device = make_device()
    now = timezone.now()
    for minutes_ago, volts in ((50, 229.0), (20, 231.0), (60 * 5, 240.0)):
        TelemetryRecord.objects.create(
            device=device,
            ts=now - timedelta(minutes=minutes_ago),
            received_at=now,
            vavg=volts,
        )
    url = reverse("admin:devices_device_telemetry", args=[device.pk])
    hour = operator_client.get(url + "?range=1h").json()
    assert hour["bucket_seconds"] == 10
    assert [point["voltage_avg"] for point in hour["points"]] == [229.0, 231.0]
    day = operator_client.get(url + "?range=24h").json()
    assert len(day["points"]) == 3
    assert operator_client.get(url + "?range=1y").status_code == 400


def test_telemetry_history_view_gives_a_chart_set_with_min_and_max(operator_client):
    from telemetry.models import TelemetryRecord

    device = make_device()
    now = timezone.now().replace(second=0, microsecond=0)
    for seconds, volts in ((0, 229.0), (2, 233.0)):
        ts = now - timedelta(minutes=30) + timedelta(seconds=seconds)
        TelemetryRecord.objects.create(device=device, ts=ts, received_at=now, v1=volts, v2=volts + 1, v3=volts + 2)
    url = reverse("admin:devices_device_telemetry", args=[device.pk])
    body = operator_client.get(url + "?range=1h&set=voltages").json()
    assert body["fields"] == ["v1", "v2", "v3"]
    [point] = body["points"]
    assert point["samples"] == 2 and point["v1"] == {"avg": 231.0, "min": 229.0, "max": 233.0}
    assert operator_client.get(url + "?range=1h&set=everything").status_code == 400


def make_firmware(version="1.3.0"):
    from firmware.models import FirmwareVersion

    return FirmwareVersion.objects.create(
        version=version, file=f"{version}/app.bin", filename="app.bin", file_size=1024, sha256=version.ljust(64, "0")
    )


def test_deploy_action_picks_a_version_then_continues_on_the_deploy_page_with_the_devices(operator_client):
    firmware = make_firmware()
    devices = [make_device(), make_device()]
    url = reverse("admin:devices_device_changelist")
    selection = {"action": "deploy_firmware", "_selected_action": [d.pk for d in devices]}
    picker = operator_client.post(url, selection)
    assert picker.status_code == 200 and b"1.3.0" in picker.content
    response = operator_client.post(url, {**selection, "apply": "1", "firmware": firmware.pk})
    deploy = reverse("admin:firmware_firmwareversion_deploy", args=[firmware.pk])
    assert response.status_code == 302
    assert response["Location"] == f"{deploy}?devices={devices[0].device_id}%2C{devices[1].device_id}"
    deploy_page = operator_client.get(response["Location"])
    assert deploy_page.context["form"].initial["devices"] == f"{devices[0].device_id} {devices[1].device_id}"


def test_group_deploy_presets_the_group(operator_client):
    firmware = make_firmware()
    group = make_group("Plant D")
    url = reverse("admin:groups_devicegroup_changelist")
    selection = {"action": "deploy_firmware", "_selected_action": [group.pk], "apply": "1", "firmware": firmware.pk}
    response = operator_client.post(url, selection)
    assert response["Location"].endswith(f"?group={group.pk}")
    deploy_page = operator_client.get(response["Location"])
    assert str(deploy_page.context["form"].initial["group"]) == str(group.pk)


def test_device_page_links_to_the_full_histories_filtered_by_device(operator_client):
    from devices.registry.status import change_status

    device, other = make_device(), make_device()
    change_status(device, DeviceStatus.OFFLINE, reason="lwt")
    change_status(other, DeviceStatus.OFFLINE, reason="lwt")
    page = operator_client.get(reverse("admin:devices_device_change", args=[device.pk])).content.decode()
    link = f"{reverse('admin:devices_devicestatuschange_changelist')}?device_id={device.device_id}"
    assert link in page
    listed = operator_client.get(link).context["cl"].result_list
    assert [change.device_id for change in listed] == [device.pk]


def test_approving_pending_devices_accepts_only_the_pending_ones(operator_client):
    pending = make_device(status=DeviceStatus.PENDING, approved_at=None)
    online = make_device(status=DeviceStatus.ONLINE)
    response = operator_client.post(
        reverse("admin:devices_device_changelist"),
        {"action": "approve_devices", "_selected_action": [pending.pk, online.pk]},
        follow=True,
    )
    assert "1 device(s) approved" in response.content.decode()
    pending.refresh_from_db()
    online.refresh_from_db()
    assert pending.status == DeviceStatus.OFFLINE and pending.approved_at is not None
    assert pending.status_changes.get().reason.startswith("approved by")
    assert online.status == DeviceStatus.ONLINE and not online.status_changes.exists()
