"""Deleting a firmware version: refused while a rollout still deploys it; the image file goes too.

Finished rollouts of the version are deleted with it (their per-device history cannot outlive the
image they refer to); the admin and the API both delete through here.
"""

import logging

from django.db import transaction

from firmware.models import FirmwareVersion, Rollout
from firmware.planning import ACTIVE_STATUSES

log = logging.getLogger(__name__)


class FirmwareInUse(Exception):
    """A scheduled, running or paused rollout still deploys this version."""


def blocking_rollouts(firmware: FirmwareVersion):
    return Rollout.objects.filter(firmware=firmware, status__in=ACTIVE_STATUSES)


def delete_firmware(firmware: FirmwareVersion, *, user=None) -> None:
    with transaction.atomic():
        running = blocking_rollouts(firmware).first()
        if running is not None:
            raise FirmwareInUse(f"Version {firmware.version} is used by rollout {running.pk} ({running.status}).")
        firmware.rollouts.all().delete()
        firmware.delete()
        transaction.on_commit(lambda: firmware.file.delete(save=False))
    log.info("firmware %s deleted by %s", firmware.version, user or "-")
