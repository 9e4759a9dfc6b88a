"""Messages of one device applied out of order (another bridge, a late redelivery): the newest by device time wins."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.protocol.payloads import parse_heartbeat, parse_registration, parse_status
from devices.choices import DeviceStatus
from devices.health.heartbeats import handle_heartbeat
from devices.health.presence import handle_status
from devices.registry.freshness import CLOCK_AHEAD_TOLERANCE
from devices.registry.registration import handle_registration
from tests.bridge import messages
from tests.factories import make_device

pytestmark = pytest.mark.django_db

SENT = time.time() - 600  # the device's clock when it sent its first message of the story


def _heartbeat(device, ts: float, **fields):
    handle_heartbeat(device, parse_heartbeat(messages.heartbeat(ts=ts, **fields)), timezone.now())
    device.refresh_from_db()


def _status(device, state: str, ts: float):
    handle_status(device, parse_status({"state": state, "ts": ts}), timezone.now())
    device.refresh_from_db()


def test_a_heartbeat_older_than_the_stored_one_changes_nothing():
    device = make_device(sd_queued=10)
    _heartbeat(device, SENT + 60, uptime=2000, rssi=-60, sd={"queued": 30})
    _heartbeat(device, SENT, uptime=1000, rssi=-90, sd={"queued": 500})
    assert (device.uptime_s, device.signal_strength, device.sd_queued, device.sd_queue_growth) == (2000, -60, 30, 20)


def test_a_heartbeat_sent_before_an_offline_status_updates_the_snapshot_but_leaves_the_device_offline():
    device = make_device()
    _heartbeat(device, SENT, uptime=1000)
    _status(device, "offline", SENT + 20)
    _heartbeat(device, SENT + 10, uptime=1010)  # handled late by another bridge
    assert device.uptime_s == 1010
    assert device.status == DeviceStatus.OFFLINE


def test_a_status_older_than_the_last_heartbeat_is_ignored():
    device = make_device()
    _heartbeat(device, SENT + 10)
    _status(device, "offline", SENT)
    assert device.status == DeviceStatus.ONLINE


def test_statuses_sent_in_quick_succession_apply_in_device_order_whatever_the_console_clock():
    """Device time is compared with device time: a status sent 10 ms after the last one is newer even
    when the console received the last one later (a backlog after an outage)."""
    device = make_device()
    _status(device, "offline", SENT)
    _status(device, "online", SENT + 0.01)
    assert device.status == DeviceStatus.ONLINE


def test_a_clock_far_ahead_is_not_trusted_for_ordering():
    device = make_device()
    ahead = time.time() + 2 * CLOCK_AHEAD_TOLERANCE.total_seconds()
    _status(device, "offline", ahead)
    assert device.status == DeviceStatus.OFFLINE
    assert device.presence_device_ts is None, "a wrong clock must not make the next hours' messages stale"
    _status(device, "online", time.time())
    assert device.status == DeviceStatus.ONLINE


def test_a_registration_handled_after_a_newer_offline_status_keeps_the_device_offline():
    device = make_device(boot_count=16)
    _status(device, "offline", SENT + 20)
    registration = parse_registration(messages.registration(device.device_id, ts=SENT, boot=17))
    handle_registration(device.device_id, registration, timezone.now())
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE
    assert device.boot_count == 17, "the inventory is still taken"


def test_a_registration_after_the_last_status_brings_the_device_online():
    device = make_device(status=DeviceStatus.OFFLINE, status_changed_at=timezone.now() - timedelta(hours=1))
    _status(device, "offline", SENT)
    handle_registration(
        device.device_id, parse_registration(messages.registration(device.device_id, ts=SENT + 5)), timezone.now()
    )
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
