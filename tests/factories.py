"""Factories for test objects: plain functions with sensible defaults, overridable by keyword."""

import itertools

from django.contrib.auth import get_user_model
from django.utils import timezone

from acuvim_console.operators.accounts import create_user_with_role
from devices.choices import DeviceStatus
from devices.models import Device
from groups.models import DeviceGroup

_counter = itertools.count(1)


def next_device_id() -> str:
    return f"ACV-{next(_counter):012X}"


def make_device(**fields) -> Device:
    defaults = {
        "device_id": next_device_id(),
        "status": DeviceStatus.ONLINE,
        "hardware": "TTGO T-Call v1.4",
        "firmware_version": "1.2.0",
        "last_heartbeat": timezone.now(),
        "approved_at": timezone.now(),
    }
    defaults.update(fields)
    return Device.objects.create(**defaults)


def make_group(name: str | None = None) -> DeviceGroup:
    return DeviceGroup.objects.create(name=name or f"Group {next(_counter)}")


def make_user(role: str | None = None, username: str | None = None, password: str = "s3cret-pass-42"):
    username = username or f"user{next(_counter)}"
    if role is None:
        return get_user_model().objects.create_user(username=username, password=password)
    return create_user_with_role(username, password, role)
