"""The admin and API logins lock out an address, and a username, after repeated failures (django-axes).

Issue 15: 40 wrong admin passwords in 19 s, then the right one worked; and a made-up X-Forwarded-For
gave each attempt a fresh address.
"""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from acuvim_console.operators.roles import ADMIN, VIEWER
from tests.factories import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "s3cret-pass-42"
LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def admin_login(username, password, forwarded_for=None) -> int:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    response = Client().post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}, **extra
    )
    return response.status_code


def test_admin_login_locks_out_an_address_even_when_it_forges_forwarded_for():
    admin = make_user(ADMIN)
    statuses = [admin_login(f"guess{n}", "wrong", forwarded_for=f"203.0.113.{n}") for n in range(LIMIT)]
    assert statuses[:-1] == [200] * (LIMIT - 1)  # the login form again, with an error
    assert statuses[-1] == 429
    assert admin_login(admin.username, PASSWORD) == 429  # the right password waits too


def test_admin_login_locks_out_a_username_tried_from_many_addresses_behind_the_proxy(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    target, bystander = make_user(ADMIN), make_user(ADMIN)
    for n in range(LIMIT):
        admin_login(target.username, "wrong", forwarded_for=f"198.51.100.{n}")
    assert admin_login(target.username, PASSWORD, forwarded_for="192.0.2.200") == 429
    assert admin_login(bystander.username, PASSWORD, forwarded_for="192.0.2.201") == 302


def test_a_successful_login_resets_the_count():
    admin = make_user(ADMIN)
    for _ in range(LIMIT - 1):
        admin_login(admin.username, "wrong")
    assert admin_login(admin.username, PASSWORD) == 302
    assert admin_login(admin.username, "wrong") == 200


def test_api_login_is_locked_out_with_429_too(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "100/min"}}
    viewer = make_user(VIEWER)
    client = APIClient()

    def attempt(password):
        return client.post("/api/auth/login", {"username": viewer.username, "password": password}, format="json")

    statuses = [attempt("wrong").status_code for _ in range(LIMIT)]
    assert statuses == [401] * (LIMIT - 1) + [429]
    locked = attempt(PASSWORD)
    assert locked.status_code == 429 and "Too many failed logins" in locked.json()["detail"]
