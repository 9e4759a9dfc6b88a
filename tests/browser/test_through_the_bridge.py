"""The cockpit with the real broker and bridge: a gateway's heartbeat, its answers, a firmware rollout."""

import pytest

from acuvim_console.operators.roles import OPERATOR
from devices.choices import DeviceStatus
from devices.models import Command
from firmware.models import FirmwareVersion, Rollout
from firmware.rollouts import advance_rollout
from tests.browser.conftest import FakeGateway, log_in, screenshot, wait_live, wait_until
from tests.factories import make_device, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gateway_for(mqtt_broker):
    started = []

    def start(device, answers=None):
        gateway = FakeGateway(mqtt_broker.port, device.device_id, answers or {})
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def test_device_turns_online_in_the_list_when_its_heartbeat_reaches_the_broker(
    console_server, bridge, gateway_for, page
):
    device = make_device(status=DeviceStatus.OFFLINE, name="Substation 4")
    gateway = gateway_for(device)
    log_in(page, console_server, make_user(OPERATOR))
    page.goto(f"{console_server.url}/admin/devices/device/")
    wait_live(page)
    badge = f"[data-device-status='{device.device_id}']"
    assert page.inner_text(badge) == "Offline"
    gateway.heartbeat()
    page.wait_for_selector(f"{badge}:text-is('Online')")


def test_ping_from_the_command_panel_shows_the_gateways_answer(console_server, bridge, gateway_for, page):
    device = make_device(status=DeviceStatus.ONLINE)
    gateway_for(device, {"ping": [{"status": "success", "data": {"uptime": 4242}}]})
    log_in(page, console_server, make_user(OPERATOR))
    page.goto(f"{console_server.url}/admin/devices/device/{device.pk}/change/")
    wait_live(page)
    page.select_option("#id_command", "ping")
    page.click("#acv-command-form button[type=submit]")
    row = page.locator("#acv-commands tr[data-status=success]")
    row.wait_for()
    assert '"uptime":4242' in row.inner_text()
    page.locator(".acv-panel--commands").scroll_into_view_if_needed()
    screenshot(page, "device-commands")


def test_rollout_started_from_the_admin_shows_device_progress_live(console_server, bridge, gateway_for, page):
    device = make_device(status=DeviceStatus.ONLINE, firmware_version="1.2.0")
    firmware = FirmwareVersion.objects.create(
        version="1.3.0", file="1.3.0/app.bin", filename="app.bin", file_size=1048576, sha256="ab" * 32
    )
    gateway = gateway_for(device, {"ota_update": [{"status": "progress", "stage": "downloading", "progress": 40}]})
    log_in(page, console_server, make_user(OPERATOR))
    page.goto(f"{console_server.url}/admin/firmware/firmwareversion/{firmware.pk}/deploy/?devices={device.device_id}")
    page.click("input[name=preview]")
    page.click("input[name=confirm]")
    page.wait_for_selector("[data-rollout-id]")
    wait_live(page)
    rollout = Rollout.objects.get()
    row = f"[data-rollout-device='{device.device_id}']"
    page.wait_for_selector(f"{row}[data-state], {row} [data-rollout-field=state]")
    wait_until(lambda: gateway.received, what="the ota_update at the gateway")
    assert gateway.received[0]["cmd"] == "ota_update"
    assert gateway.received[0]["params"]["version"] == "1.3.0"
    command = Command.objects.get(device=device)
    wait_until(lambda: Command.objects.get(pk=command.pk).progress, what="the bridge storing the progress answer")
    advance_rollout(rollout.pk)  # what the periodic rollout task does
    page.wait_for_selector(f"{row} [data-rollout-field=state]:text-is('downloading')")
    assert page.get_attribute(f"{row} progress[data-rollout-field=progress]", "value") == "40"
    assert page.inner_text("[data-rollout-count=downloading]") == "1"
    page.locator(".acv-rollout-counts").scroll_into_view_if_needed()
    screenshot(page, "rollout")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("input[name=cancel]")  # a dismissed confirmation must not cancel the rollout
    assert questions and questions[0].startswith("Cancel this rollout?")
    rollout.refresh_from_db()
    assert rollout.status == "running"
