"""Firmware settings, read at call time so tests and deployments can override them (defaults: settings.py)."""

from django.conf import settings


def max_image_bytes() -> int:
    return settings.FIRMWARE_MAX_BYTES


def ota_device_timeout_seconds() -> int:
    return settings.FIRMWARE_OTA_DEVICE_TIMEOUT_SECONDS


def download_url_max_age_seconds() -> int:
    return settings.FIRMWARE_DOWNLOAD_URL_MAX_AGE_SECONDS


def console_base_url() -> str:
    return settings.CONSOLE_BASE_URL.rstrip("/")


def allowed_chips() -> tuple[str, ...]:
    """Chips the fleet's gateways carry (TTGO T-Call: ESP32); an image for another chip would not boot."""
    return tuple(settings.FIRMWARE_ALLOWED_CHIPS)
