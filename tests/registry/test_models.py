"""The constraints the data model promises, checked on the real database."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert, AlertType
from devices.choices import DeviceStatus
from devices.models import Command, Device
from telemetry.models import TelemetryRecord
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def _record(device, ts, **fields):
    return TelemetryRecord(device=device, ts=ts, received_at=timezone.now(), **fields)


def test_telemetry_is_unique_per_device_and_timestamp():
    device = make_device()
    ts = timezone.now().replace(microsecond=0)
    # (device, ts) is the primary key: an insert of the same pair fails (a plain save() would update it).
    _record(device, ts).save(force_insert=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        _record(device, ts, source="sd").save(force_insert=True)
    _record(make_device(), ts).save(force_insert=True)  # same instant, other device: fine
    _record(device, ts + timedelta(seconds=1)).save(force_insert=True)
    assert TelemetryRecord.objects.filter(device=device).count() == 2


def test_bulk_insert_ignoring_conflicts_stores_each_reading_once():
    device = make_device()
    ts = timezone.now().replace(microsecond=0)
    batch = [_record(device, ts + timedelta(seconds=i)) for i in range(5)]
    TelemetryRecord.objects.bulk_create(batch, ignore_conflicts=True)
    replay = [_record(device, ts + timedelta(seconds=i), source="sd") for i in range(3, 8)]
    TelemetryRecord.objects.bulk_create(replay, ignore_conflicts=True)
    assert TelemetryRecord.objects.filter(device=device).count() == 8
    assert TelemetryRecord.objects.filter(device=device, source="sd").count() == 3


def test_only_one_open_alert_per_device_and_type():
    device = make_device()
    first = Alert.objects.create(device=device, alert_type=AlertType.OVERVOLTAGE, message="V1 above 253 V")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(device=device, alert_type=AlertType.OVERVOLTAGE, message="again")
    Alert.objects.create(device=device, alert_type=AlertType.UNDERVOLTAGE, message="other type is fine")
    first.resolved_at = timezone.now()
    first.save()
    Alert.objects.create(device=device, alert_type=AlertType.OVERVOLTAGE, message="new episode after resolve")
    assert Alert.objects.filter(device=device, alert_type=AlertType.OVERVOLTAGE).count() == 2


def test_command_request_id_is_unique():
    device = make_device()
    expires = timezone.now() + timedelta(minutes=1)
    Command.objects.create(device=device, request_id="req-1", command="ping", expires_at=expires)
    with pytest.raises(IntegrityError), transaction.atomic():
        Command.objects.create(device=make_device(), request_id="req-1", command="ping", expires_at=expires)


def test_status_must_be_one_of_the_protocol_states():
    assert set(DeviceStatus.values) == {"pending", "online", "degraded", "offline", "decommissioned"}
    device = make_device()
    device.status = "sleeping"
    with pytest.raises(ValidationError) as excinfo:
        device.full_clean()
    assert "status" in excinfo.value.message_dict


@pytest.mark.parametrize("bad_id", ["ACV-aabbccddeeff", "ACV-AABBCCDDEEF", "acuvim/+", "ACV-AABBCCDDEEFF/x", ""])
def test_device_id_must_be_acv_and_mac(bad_id):
    with pytest.raises(ValidationError):
        Device(device_id=bad_id).full_clean()


def test_new_devices_wait_for_approval():
    assert Device.objects.create(device_id="ACV-0000000000AA").status == DeviceStatus.PENDING
