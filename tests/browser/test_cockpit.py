"""The admin cockpit driven like a field engineer would, in headless Chromium, updating without reloads."""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.core import events
from acuvim_console.operators.roles import OPERATOR
from acuvim_console.protocol.enums import Severity
from alerts.models import Alert, AlertType
from devices.choices import DeviceStatus
from devices.registry.status import change_status
from telemetry.models import TelemetryRecord
from tests.browser.conftest import chart_points, log_in, screenshot, wait_live, wait_until
from tests.factories import make_device, make_group, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed_fleet(count: int = 6):
    plant = make_group("Plant A")
    office = make_group("Office B")
    now = timezone.now()
    devices = []
    statuses = [DeviceStatus.ONLINE] * 3 + [DeviceStatus.DEGRADED, DeviceStatus.OFFLINE, DeviceStatus.PENDING]
    for index, status in enumerate(statuses[:count]):
        devices.append(
            make_device(
                name=f"Meter {index + 1}",
                status=status,
                group=plant if index % 2 == 0 else office,
                connection_type="wifi" if index % 3 else "gsm",
                signal_strength=-58 - 6 * index,
                last_seen=now - timedelta(seconds=20 * index),
                firmware_version="1.2.0" if index < 4 else "1.1.0",
            )
        )
    return devices


def add_telemetry(device, minutes: int = 60, step_s: int = 30):
    now = timezone.now()
    rows = []
    for i in range(minutes * 60 // step_s):
        ts = now - timedelta(seconds=i * step_s)
        wave = (i % 20) / 20
        rows.append(
            TelemetryRecord(
                device=device,
                ts=ts,
                received_at=ts,
                f=50.0 + 0.05 * wave,
                v1=228.0 + 3 * wave,
                v2=229.0 + 3 * wave,
                v3=230.0 + 3 * wave,
                vavg=229.0 + 3 * wave,
                iavg=9.5 + wave,
                pt=6500 + 400 * wave,
                pft=0.97 + 0.02 * wave,
            )
        )
    TelemetryRecord.objects.bulk_create(rows)


def test_dashboard_counters_and_events_update_without_reload(console_server, page):
    devices = seed_fleet()
    Alert.objects.create(
        device=devices[3], alert_type=AlertType.LOW_HEAP, severity=Severity.WARNING, message="heap 24 KiB"
    )
    log_in(page, console_server, make_user(OPERATOR))
    wait_live(page)
    assert page.inner_text("[data-counter='devices.online']") == "3"
    online = devices[0]
    change_status(online, DeviceStatus.OFFLINE, reason="lwt")
    page.wait_for_selector("[data-counter='devices.offline']:text-is('2')")
    page.wait_for_selector(f"#acv-recent-events .acv-event__device:text-is('{online.device_id}')")
    assert page.inner_text("[data-counter='devices.online']") == "2"
    screenshot(page, "dashboard")


def test_device_list_badge_and_last_seen_change_live(console_server, page):
    devices = seed_fleet()
    log_in(page, console_server, make_user(OPERATOR))
    page.goto(f"{console_server.url}/admin/devices/device/")
    wait_live(page)
    target = devices[4]
    badge = f"[data-device-status='{target.device_id}']"
    assert page.inner_text(badge) == "Offline"
    change_status(target, DeviceStatus.ONLINE, reason="heartbeat")
    page.wait_for_selector(f"{badge}:text-is('Online')")
    page.wait_for_selector(f"[data-device-last-seen='{target.device_id}']:text-is('just now')")
    screenshot(page, "device-list")


def open_device_page_with_an_hour_of_telemetry(console_server, page):
    device = seed_fleet(1)[0]
    add_telemetry(device)
    log_in(page, console_server, make_user(OPERATOR))
    page.goto(f"{console_server.url}/admin/devices/device/{device.pk}/change/")
    wait_live(page)
    wait_until(lambda: chart_points(page) > 100, what="the 1 h history in the charts")
    return device


def test_device_page_charts_history_and_streams_telemetry(console_server, page):
    device = open_device_page_with_an_hour_of_telemetry(console_server, page)
    assert page.locator(".acv-chart canvas").count() == 5
    events.publish_event(
        events.TELEMETRY_RECEIVED,
        {"ts": timezone.now().isoformat(), "voltage_avg": 233.7, "current_avg": 10.1, "frequency": 50.02},
        device_id=device.device_id,
    )
    page.wait_for_selector("[data-latest='voltage_avg']:text-is('233.7 V')")
    page.click("[data-range='24h']")
    page.wait_for_selector("[data-range='24h'].acv-range--active")
    page.click("[data-range='1h']")
    wait_until(lambda: chart_points(page) > 100, what="the 1 h history again")
    screenshot(page, "device-page")


def test_device_page_charts_a_chosen_set_of_quantities_with_min_max_bands(console_server, page):
    open_device_page_with_an_hour_of_telemetry(console_server, page)
    page.select_option("[data-chart-set]", "voltages")
    page.wait_for_selector("#acv-set-chart canvas")
    assert page.locator("#acv-charts").is_hidden()
    wait_until(lambda: chart_points(page) > 100, what="the phase voltages with their bands")
    assert "Phase voltages" in page.inner_text("#acv-set-chart")
    page.select_option("[data-chart-set]", "")
    page.wait_for_selector("#acv-charts .acv-chart canvas")
    assert page.locator("#acv-set-chart").is_hidden()


def test_acknowledging_an_alert_updates_other_open_pages(console_server, browser, page):
    device = seed_fleet(1)[0]
    alert = Alert.objects.create(
        device=device, alert_type=AlertType.OVERVOLTAGE, severity=Severity.CRITICAL, message="V1 254.2 V"
    )
    user = make_user(OPERATOR)
    log_in(page, console_server, user)
    page.goto(f"{console_server.url}/admin/alerts/alert/?state=open")
    wait_live(page)
    state = f"[data-alert-state='{alert.pk}']"
    assert page.inner_text(state) == "open"

    other = browser.new_context(viewport=page.viewport_size).new_page()
    log_in(other, console_server, user)
    other.goto(f"{console_server.url}/admin/alerts/alert/?state=open")
    other.check(f"input[name=_selected_action][value='{alert.pk}']")
    other.select_option("select[name=action]", "acknowledge")
    other.click("button[name=index]")
    other.wait_for_selector(f"{state}:text-is('acknowledged')")
    other.context.close()

    page.wait_for_selector(f"{state}:text-is('acknowledged')")  # the first page, without a reload
    screenshot(page, "alerts")


def test_group_list_shows_counts_and_offers_group_command(console_server, page):
    seed_fleet()
    log_in(page, console_server, make_user(OPERATOR))
    page.goto(f"{console_server.url}/admin/groups/devicegroup/")
    wait_live(page)
    assert page.locator("a.acv-count--online").count() == 2
    page.check("#action-toggle")
    page.select_option("select[name=action]", "send_group_command")
    page.click("button[name=index]")
    page.select_option("select[name=command]", "get_logs")
    assert '"lines": 50' in page.input_value("textarea[name=params]")
    page.click("input[type=submit].default")
    page.wait_for_selector(".acv-batch-summary")
    page.goto(f"{console_server.url}/admin/groups/devicegroup/")
    wait_live(page)
    screenshot(page, "groups")
