"""No GET changes anything: every GET route of the API, and the device cockpit's, leaves every table as it was.

Issue 15: `GET /api/devices/{id}/config/wifi/scan` sent a command, and a link on another site made a
logged-in operator's browser send it. The routes are read from the URL conf, so a new GET is covered.
"""

import pytest
from django.apps import apps
from django.urls import reverse

from acuvim_console.operators.roles import ADMIN
from devices.models import Device
from tests.api.conftest import client_for
from tests.api.test_role_matrix import _url, api_endpoints, world  # noqa: F401  (world is a fixture)

GET_ROUTES = [(name, route) for name, method, route in api_endpoints() if method == "GET"]


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.mark.django_db
def test_wifi_scan_has_no_get_route():
    assert "device-wifi-scan" not in {name for name, _ in GET_ROUTES}


@pytest.mark.parametrize(("name", "route"), GET_ROUTES, ids=[name for name, _ in GET_ROUTES])
def test_get_changes_no_row(name, route, world, users):  # noqa: F811
    client = client_for(users[ADMIN])
    url = _url(name, route, world)
    before = row_counts()
    response = client.get(url)
    assert response.status_code < 500, f"GET {url}: {response.status_code}"
    assert row_counts() == before, f"GET {url} changed the database"


def test_device_cockpit_gets_change_no_row(world, users, client):  # noqa: F811
    client.force_login(users[ADMIN])
    device = Device.objects.get(device_id=world["device_id"])
    before = row_counts()
    for url in (
        reverse("admin:devices_device_changelist"),
        reverse("admin:devices_device_change", args=[device.pk]),
        reverse("admin:devices_device_telemetry", args=[device.pk]),
        reverse("admin:devices_device_command", args=[device.pk]),
        reverse("admin:devices_device_config", args=[device.pk]),
    ):
        assert client.get(url).status_code in (200, 405), url
    assert row_counts() == before
