"""Tokens can be revoked: logout, a password change and a deactivation end them (issue 15)."""

import pytest
from rest_framework.test import APIClient

from acuvim_console.operators.roles import OPERATOR, VIEWER
from tests.factories import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "s3cret-pass-42"


def login(user, password=PASSWORD) -> dict:
    response = APIClient().post("/api/auth/login", {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def me_status(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/auth/me").status_code


def refresh(refresh_token: str):
    return APIClient().post("/api/auth/refresh", {"refresh": refresh_token}, format="json")


def test_logout_blacklists_the_refresh_token():
    tokens = login(make_user(VIEWER))
    response = APIClient().post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert refresh(tokens["refresh"]).status_code == 401
    again = APIClient().post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401


def test_logout_without_a_valid_refresh_token_is_refused():
    assert APIClient().post("/api/auth/logout", {}, format="json").status_code == 400
    assert APIClient().post("/api/auth/logout", {"refresh": "not-a-jwt"}, format="json").status_code == 401


def test_a_password_change_revokes_every_token_issued_before_it():
    user = make_user(OPERATOR)
    laptop, phone = login(user), login(user)
    rotated = refresh(phone["refresh"]).json()  # a token family that moved on before the change
    assert me_status(laptop["access"]) == 200

    user.set_password("a-new-long-passphrase-7")
    user.save()

    for tokens in (laptop, phone, rotated):
        assert me_status(tokens["access"]) == 401
        assert refresh(tokens["refresh"]).status_code == 401
    fresh = login(user, "a-new-long-passphrase-7")
    assert me_status(fresh["access"]) == 200 and refresh(fresh["refresh"]).status_code == 200


def test_deactivation_revokes_tokens_and_reactivation_does_not_bring_them_back():
    user = make_user(VIEWER)
    tokens = login(user)
    user.is_active = False
    user.save()
    assert me_status(tokens["access"]) == 401 and refresh(tokens["refresh"]).status_code == 401
    user.is_active = True
    user.save()
    assert me_status(tokens["access"]) == 401
    assert refresh(tokens["refresh"]).status_code == 401
    assert me_status(login(user)["access"]) == 200


def test_a_login_updating_last_login_revokes_nothing():
    user = make_user(VIEWER)
    first = login(user)
    login(user)  # saves last_login
    assert me_status(first["access"]) == 200
