"""Fixtures for the firmware tests: a private image directory, operators of each role, uploaded images."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER
from firmware.uploads import upload_firmware
from tests.factories import make_user
from tests.support.firmware_images import build_app_image


@pytest.fixture(autouse=True)
def firmware_dir(settings, tmp_path):
    """Every test stores images in its own directory, never in the project's DATA_DIR."""
    location = tmp_path / "firmware"
    settings.STORAGES = {
        **settings.STORAGES,
        "firmware": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    settings.CONSOLE_BASE_URL = "http://console.test"
    return location


def image_file(version="1.3.0", name=None, **kwargs) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or f"gateway-{version}.bin", build_app_image(version, **kwargs))


@pytest.fixture
def make_firmware(db):
    def make(version="1.3.0", **fields):
        build = {key: fields.pop(key) for key in ("payload_size",) if key in fields}
        firmware = upload_firmware(image_file(version, **build), **fields)
        return firmware

    return make


@pytest.fixture
def admin_user(db):
    return make_user(ADMIN)


@pytest.fixture
def operator(db):
    return make_user(OPERATOR)


@pytest.fixture
def viewer(db):
    return make_user(VIEWER)


@pytest.fixture
def api(client):
    """A DRF test client; log in with `api.force_authenticate(user)`."""
    from rest_framework.test import APIClient

    return APIClient()
