"""The readings list in the admin (telemetry.admin_views): filters, pages, protocol columns, CSV link, refusals."""

from datetime import UTC, datetime, timedelta

import pytest

from acuvim_console.operators.roles import VIEWER
from tests.factories import make_device, make_user
from tests.telemetry.readings import every, store_many

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
URL = "/admin/telemetry/readings/"
RANGE = {"start": "2026-11-20 10:00", "end": "2026-11-20 11:00"}


@pytest.fixture
def viewer(client):
    client.force_login(make_user(VIEWER))
    return client


def shown(response) -> list[str]:
    """The rows of the page, as `device@ts` in the order shown."""
    body = response.content.decode()
    return [chunk.split('"', 1)[0] for chunk in body.split('data-reading="')[1:]]


def test_the_list_is_under_telemetry_in_the_app_list(viewer):
    index = viewer.get("/admin/").content.decode()
    assert f'href="{URL}"' in index and "Readings" in index and "Telemetry" in index


def test_newest_first_by_device_and_range_a_page_at_a_time_with_protocol_columns_and_csv(viewer):
    device, other = make_device(), make_device()
    store_many(device, [(ts, {"v1": 230.0 + n}) for n, ts in enumerate(every(T0, 30, 120))])  # one hour
    store_many(other, [(T0 + timedelta(minutes=1), {})])

    first = viewer.get(URL, {**RANGE, "device": device.device_id})
    assert first.status_code == 200
    rows = shown(first)
    assert len(rows) == 50 and rows[0] == f"{device.device_id}@{(T0 + timedelta(seconds=30 * 119)).isoformat()}"
    body = first.content.decode()
    for column in ("<th scope=\"col\">ts</th>", ">seq</th>", ">v1</th>", ">ep_imp</th>", ">pft</th>"):
        assert column in body
    assert "<td>349.0</td>" in body  # v1 of the newest reading
    assert (
        f'href="/api/devices/{device.device_id}/telemetry/export?start=2026-11-20T10%3A00%3A00Z&amp;'
        'end=2026-11-20T11%3A00%3A00Z"' in body
    )

    third = viewer.get(URL, {**RANGE, "device": device.device_id, "page": 3})
    assert len(shown(third)) == 20 and 'rel="next"' not in third.content.decode()
    assert 'rel="prev"' in third.content.decode()

    everyone = viewer.get(URL, {"start": "2026-11-20 10:00", "end": "2026-11-20 10:02", "columns": "thd_voltage"})
    minute = (T0 + timedelta(minutes=1)).isoformat()
    assert shown(everyone)[1:3] == [f"{device.device_id}@{minute}", f"{other.device_id}@{minute}"]
    assert len(shown(everyone)) == 5
    assert ">thd_v2</th>" in everyone.content.decode() and ">v1</th>" not in everyone.content.decode()
    assert "Choose a device to download" in everyone.content.decode()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"device": "ACV-NOSUCH"}, "No device ACV-NOSUCH."),
        ({"start": "yesterday"}, "Enter a valid date/time."),
        ({"start": "2026-11-20 11:00", "end": "2026-11-20 10:00"}, "The start must be before the end."),
        ({"page": "0"}, "page:"),
        ({"page": "99999999999999999999"}, "page:"),
        ({"columns": "passwords"}, "Select a valid choice."),
    ],
)
def test_bad_filters_are_refused_with_a_reason_not_a_500(viewer, query, reason):
    response = viewer.get(URL, query)
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_a_user_without_the_telemetry_permission_is_refused(client):
    staff = make_user()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    assert 'href="/admin/telemetry/readings/"' not in client.get("/admin/").content.decode()
