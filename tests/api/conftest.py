"""Fixtures for the REST API tests: users per role and API clients carrying their JWT."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER
from tests.factories import make_user


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are created per test; the production hasher would spend most of the suite's time hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    """Throttling counts in the default cache; every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def users(db):
    return {role: make_user(role) for role in (VIEWER, OPERATOR, ADMIN)}


@pytest.fixture
def viewer_client(users):
    return client_for(users[VIEWER])


@pytest.fixture
def operator_client(users):
    return client_for(users[OPERATOR])


@pytest.fixture
def admin_client(users):
    return client_for(users[ADMIN])


@pytest.fixture
def anon_client():
    return APIClient()
