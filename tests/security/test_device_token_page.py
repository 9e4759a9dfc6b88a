"""The admin's "issue a new device token" shows the token on a page, never in the `messages` cookie (issue 15)."""

import re

import pytest
from django.urls import reverse

from acuvim_console.operators.roles import ADMIN
from devices.registry.tokens import device_for_token
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def test_new_tokens_are_shown_on_an_uncached_page_and_stored_nowhere_else(client, users):
    client.force_login(users[ADMIN])
    first, second = make_device(), make_device()
    response = client.post(
        reverse("admin:devices_device_changelist"),
        {"action": "issue_tokens", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 200
    page = response.content.decode()
    shown = dict(re.findall(r'data-device-token="(ACV-[0-9A-F]+)">(acvt_[\w-]+)<', page))
    assert set(shown) == {first.device_id, second.device_id}
    assert device_for_token(shown[first.device_id]) == first
    assert "no-store" in response["Cache-Control"]
    cookies = "".join(morsel.OutputString() for morsel in response.cookies.values())
    assert "messages" not in response.cookies and not any(token in cookies for token in shown.values())
    following = client.get(reverse("admin:devices_device_changelist")).content.decode()
    assert not any(token in following for token in shown.values())
