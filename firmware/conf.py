"""Firmware settings with their defaults, read at call time so tests and deployments can override them."""

from django.conf import settings

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_OTA_DEVICE_TIMEOUT_SECONDS = 20 * 60
# A signed download URL must outlive a slow GSM download with resumes and a device that was offline
# when the command was queued, but not stay valid forever if it leaks into a log.
DEFAULT_DOWNLOAD_URL_MAX_AGE_SECONDS = 24 * 3600


def max_image_bytes() -> int:
    return getattr(settings, "FIRMWARE_MAX_BYTES", DEFAULT_MAX_BYTES)


def ota_device_timeout_seconds() -> int:
    return getattr(settings, "FIRMWARE_OTA_DEVICE_TIMEOUT_SECONDS", DEFAULT_OTA_DEVICE_TIMEOUT_SECONDS)


def download_url_max_age_seconds() -> int:
    return getattr(settings, "FIRMWARE_DOWNLOAD_URL_MAX_AGE_SECONDS", DEFAULT_DOWNLOAD_URL_MAX_AGE_SECONDS)


def console_base_url() -> str:
    return settings.CONSOLE_BASE_URL.rstrip("/")


def allowed_chips() -> tuple[str, ...]:
    """Chips the fleet's gateways carry (TTGO T-Call: ESP32); an image for another chip would not boot."""
    return tuple(getattr(settings, "FIRMWARE_ALLOWED_CHIPS", ("ESP32",)))
