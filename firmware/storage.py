"""Where firmware images live: the private `firmware` storage alias (local directory or S3-compatible bucket).

The model's FileField holds a lazy proxy instead of a storage instance, because Django evaluates a
field's storage callable once, at import: a proxy lets `settings.STORAGES` (a deployment switching to S3,
a test pointing at a temporary directory) decide at the first use instead.
"""

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

STORAGE_ALIAS = "firmware"


class FirmwareStorage(LazyObject):
    def _setup(self):
        self._wrapped = storages[STORAGE_ALIAS]


_firmware_storage = FirmwareStorage()


def firmware_storage():
    """The storage of firmware images; the FileField's storage callable."""
    return _firmware_storage


@receiver(setting_changed, dispatch_uid="firmware.storage.reset")
def _reset_on_storages_change(*, setting, **kwargs):
    if setting == "STORAGES":
        _firmware_storage._wrapped = empty
