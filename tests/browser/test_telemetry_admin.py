"""Telemetry in the admin, in headless Chromium: the readings list, a group's energy, the device page's energy chart."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from devices.roles import VIEWER
from tests.browser.conftest import log_in
from tests.factories import make_device, make_user
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
