"""Login, refresh rotation, the current user, registration by admins, and login throttling."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER, role_of
from tests.api.conftest import client_for
from tests.factories import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "s3cret-pass-42"


def login(client, username, password=PASSWORD):
    return client.post("/api/auth/login", {"username": username, "password": password}, format="json")


def test_login_returns_tokens_user_and_role_and_the_access_token_opens_the_api(anon_client, users):
    response = login(anon_client, users[OPERATOR].username)
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {
        "id": users[OPERATOR].pk,
        "username": users[OPERATOR].username,
        "email": "",
        "role": OPERATOR,
    }
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    me = anon_client.get("/api/auth/me").json()
    assert me["role"] == OPERATOR and "devices.send_command" in me["permissions"]


def test_wrong_password_is_401_and_says_nothing_about_the_user(anon_client, users):
    wrong = login(anon_client, users[VIEWER].username, "nope")
    unknown = login(anon_client, "nobody-here", "nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_login_without_fields_is_400_with_field_errors(anon_client):
    response = anon_client.post("/api/auth/login", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_refresh_rotates_and_the_used_refresh_token_stops_working(anon_client, users):
    tokens = login(anon_client, users[VIEWER].username).json()
    first = anon_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200
    assert first.json()["refresh"] != tokens["refresh"] and first.json()["access"]
    replay = anon_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert replay.status_code == 401


def test_access_tokens_expire_after_the_configured_lifetime_and_are_then_401(anon_client, users):
    """Seed 10.2, "JWT tokens: expiry": a stolen access token is good for JWT_ACCESS_HOURS at most."""
    issued = AccessToken(login(anon_client, users[VIEWER].username).json()["access"])
    lifetime = django_settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    assert issued["exp"] - issued["iat"] == lifetime.total_seconds()
    issued.set_exp(lifetime=timedelta(seconds=-1))  # the same token, as it is once its lifetime has passed
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued}")
    response = anon_client.get("/api/auth/me")
    assert response.status_code == 401 and "expired" in response.content.decode().lower(), response.content


def test_an_invalid_token_is_401_with_a_bearer_challenge(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = anon_client.get("/api/devices")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_login_is_throttled_per_client_after_the_configured_rate(anon_client, users, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "3/min"}}
    statuses = [login(anon_client, users[VIEWER].username, "wrong").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert login(anon_client, users[VIEWER].username).status_code == 429  # even the right password waits
    other_client = client_for()
    assert login(other_client, users[VIEWER].username, "wrong").status_code in (401, 429)


def test_default_login_rate_is_ten_a_minute(anon_client, users, settings):
    settings.AXES_FAILURE_LIMIT = 100  # the lockout after failures is tested in tests/security
    statuses = [login(anon_client, users[VIEWER].username, "wrong").status_code for _ in range(11)]
    assert statuses.count(401) == 10 and statuses[-1] == 429


def test_admin_registers_a_user_with_a_role_who_can_then_log_in(admin_client, anon_client):
    response = admin_client.post(
        "/api/auth/register",
        {"username": "field-eng", "password": "a-long-passphrase-1", "role": VIEWER, "email": "fe@example.com"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == VIEWER and "password" not in response.json()
    user = get_user_model().objects.get(username="field-eng")
    assert role_of(user) == VIEWER
    assert login(anon_client, "field-eng", "a-long-passphrase-1").status_code == 200


def test_register_refuses_weak_passwords_duplicates_and_unknown_roles(admin_client, users):
    weak = admin_client.post("/api/auth/register", {"username": "x1", "password": "123", "role": VIEWER}, format="json")
    assert weak.status_code == 400 and "password" in weak.json()
    taken = admin_client.post(
        "/api/auth/register",
        {"username": users[VIEWER].username.upper(), "password": "a-long-passphrase-1", "role": VIEWER},
        format="json",
    )
    assert taken.status_code == 400 and "username" in taken.json()
    role = admin_client.post(
        "/api/auth/register", {"username": "x2", "password": "a-long-passphrase-1", "role": "Root"}, format="json"
    )
    assert role.status_code == 400 and "role" in role.json()


def test_me_reports_no_role_for_a_user_outside_the_roles():
    plain = make_user()
    assert client_for(plain).get("/api/auth/me").json()["role"] is None
    assert client_for(make_user(ADMIN)).get("/api/auth/me").json()["role"] == ADMIN


def test_a_made_up_forwarded_for_header_does_not_escape_the_throttle(anon_client, users, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "2/min"}}
    statuses = [
        anon_client.post(
            "/api/auth/login",
            {"username": users[VIEWER].username, "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        ).status_code
        for n in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_throttled(anon_client, users, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1/min"}}
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's address

    def attempt(client_address):
        return anon_client.post(
            "/api/auth/login",
            {"username": users[VIEWER].username, "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=client_address,
        ).status_code

    assert [attempt("198.51.100.7"), attempt("198.51.100.7"), attempt("198.51.100.8")] == [401, 429, 401]
