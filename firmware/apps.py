from django.apps import AppConfig


class FirmwareConfig(AppConfig):
    name = "firmware"
    verbose_name = "Firmware"

    def ready(self):
        from firmware.api import schema  # noqa: F401 (registers the device-token scheme with drf-spectacular)
