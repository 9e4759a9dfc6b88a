"""Telemetry in the admin, in headless Chromium: the readings list, a group's energy, the device page's energy chart."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from acuvim_console.operators.roles import VIEWER
from telemetry.rollups import roll_up
from tests.browser.conftest import log_in, screenshot
from tests.factories import make_device, make_group, make_user
from tests.telemetry.readings import every, store_many

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_engineer_finds_a_devices_readings_from_the_app_list_and_downloads_them(console_server, page):
    device, other = make_device(name="Feeder 1"), make_device()
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=30)
    store_many(device, [(ts, {"v2": 241.5}) for ts in every(start, 60, 20)])
    store_many(other, [(start, {})])
    log_in(page, console_server, make_user(VIEWER))

    page.click("a[href='/admin/telemetry/readings/']:text-is('Readings')")
    page.wait_for_selector("#acv-readings-filter")
    assert page.locator("tr[data-reading]").count() == 21  # both devices, the last hour
    page.fill("#id_device", device.device_id)
    page.select_option("#id_columns", "voltages")
    page.click("#acv-readings-filter input[type=submit]")
    page.wait_for_selector("#acv-readings-csv")

    assert page.locator("tr[data-reading]").count() == 20
    assert page.locator("#result_list th").all_inner_texts()[-3:] == ["v1", "v2", "v3"]
    assert page.locator("tr[data-reading] td").nth(7).inner_text() == "241.5"
    with page.expect_download() as download:
        page.click("#acv-readings-csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("ts,ts_estimated,received_at,source,connection,seq,f,v1,v2") and len(lines) == 21


def two_days_of_energy(device, per_hour: float) -> None:
    """A reading every 10 minutes over the last two whole UTC days, ep_imp rising `per_hour` kWh an hour."""
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    times = every(today - timedelta(days=2), 600, 2 * 144 + 1)
    store_many(device, [(ts, {"ep_imp": 5000.0 + per_hour * n / 6}) for n, ts in enumerate(times)])


def test_a_groups_energy_per_day_sums_its_devices_with_totals_and_csv(console_server, page):
    group = make_group("Plant A")
    one, two = make_device(group=group), make_device(group=group)
    two_days_of_energy(one, 1.0)
    two_days_of_energy(two, 2.0)
    roll_up()
    log_in(page, console_server, make_user(VIEWER))

    page.goto(f"{console_server.url}/admin/groups/devicegroup/")
    page.click(f"a[href='/admin/groups/devicegroup/{group.pk}/energy/']")
    page.wait_for_selector("#acv-energy-table")
    days = page.locator("#acv-energy-table tbody tr[data-period]")
    # 0.5 kWh per 10 minutes for both: the first day has 143 steps (nothing before its first reading), the
    # second 144 (its first step comes from the day before), today's one reading the last step.
    assert [days.nth(n).locator("td").nth(1).inner_text() for n in range(days.count())] == ["71.5", "72.0", "0.5"]
    assert page.locator("tr[data-total] td").nth(0).inner_text() == "144.0"

    page.select_option("#acv-energy-period", "month")
    page.click("#acv-energy-filter input[type=submit]")
    page.wait_for_selector("#acv-energy-csv")
    with page.expect_download() as download:
        page.click("#acv-energy-csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "t,ep_imp_kwh,ep_exp_kwh,eq_imp_kvarh,eq_exp_kvarh"
    assert sum(float(line.split(",")[1]) for line in lines[1:]) == 144.0

    page.fill("#acv-energy-start", "the day before")
    page.click("#acv-energy-filter input[type=submit]")
    page.wait_for_selector(".errornote")
    page.js_errors.clear()  # the 400 of the refused query is the point here
    assert "start:" in page.inner_text(".errornote")


def test_the_device_page_draws_a_bar_per_day_of_energy(console_server, page):
    device = make_device()
    two_days_of_energy(device, 1.0)
    roll_up()
    log_in(page, console_server, make_user(VIEWER))

    page.goto(f"{console_server.url}/admin/devices/device/{device.pk}/change/")
    page.wait_for_selector("#acv-energy-chart[data-days='3'] canvas")
    assert "Active energy per day" in page.inner_text("#acv-energy-chart")
    assert "period=day&start=" in page.get_attribute("#acv-energy-csv", "href")
    page.locator(".acv-panel--energy").scroll_into_view_if_needed()
    screenshot(page, "device-energy")
