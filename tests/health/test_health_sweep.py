"""The health sweep: degraded after 3 missed intervals, offline after 5, in set-based statements."""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.core.events import ALERT_CREATED, DEVICE_STATUS_CHANGED
from acuvim_console.protocol.payloads import parse_heartbeat
from alerts.models import Alert, AlertType
from devices.choices import DeviceStatus
from devices.health.heartbeats import handle_heartbeat
from devices.health.sweep import sweep
from devices.models import Device, DeviceStatusChange
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def statuses():
    return dict(Device.objects.values_list("device_id", "status"))


def test_silent_device_goes_degraded_then_offline_then_online_on_its_next_heartbeat(
    live_events, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    device = make_device(heartbeat_interval=60, last_heartbeat=t0, status_changed_at=t0 - timedelta(days=1))

    assert sweep(now=t0 + timedelta(seconds=179)) == {"degraded": 0, "offline": 0}
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=t0 + timedelta(seconds=181)) == {"degraded": 1, "offline": 0}
    device.refresh_from_db()
    assert device.status == DeviceStatus.DEGRADED
    assert device.status_changed_at == t0 + timedelta(seconds=181)

    assert sweep(now=t0 + timedelta(seconds=299))["offline"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=t0 + timedelta(seconds=301)) == {"degraded": 0, "offline": 1}
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE
    alert = Alert.objects.get(device=device, alert_type=AlertType.DEVICE_OFFLINE, resolved_at__isnull=True)
    assert alert.severity == "critical" and device.device_id in alert.message

    with django_capture_on_commit_callbacks(execute=True):
        handle_heartbeat(device, parse_heartbeat({"ts": None, "hb_s": 60}), t0 + timedelta(seconds=400))
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    alert.refresh_from_db()
    assert alert.resolved_at is not None

    history = list(DeviceStatusChange.objects.filter(device=device).order_by("changed_at"))
    assert [(c.from_status, c.to_status) for c in history] == [
        ("online", "degraded"),
        ("degraded", "offline"),
        ("offline", "online"),
    ]
    assert history[0].reason == "no heartbeat for 3 intervals"
    fleet = live_events.fleet()
    assert [data["status"] for name, data in fleet if name == DEVICE_STATUS_CHANGED] == [
        "degraded",
        "offline",
        "online",
    ]
    assert ALERT_CREATED in [name for name, _ in fleet]


def test_a_long_silent_device_goes_straight_to_offline_with_one_history_row():
    t0 = timezone.now()
    device = make_device(heartbeat_interval=60, last_heartbeat=t0 - timedelta(hours=2))
    assert sweep(now=t0) == {"degraded": 0, "offline": 1}
    assert list(DeviceStatusChange.objects.filter(device=device).values_list("from_status", "to_status")) == [
        ("online", "offline")
    ]


def test_sweep_judges_hundreds_of_devices_by_their_own_intervals_in_a_few_statements(
    settings, django_assert_max_num_queries
):
    settings.HEALTH_SWEEP_DETAIL_LIMIT = 0  # the bulk path: statement count must not grow with the fleet
    now = timezone.now()
    groups = {
        # name: (count, heartbeat interval s, seconds since last heartbeat, status before, expected after)
        "fresh": (100, 60, 30, DeviceStatus.ONLINE, DeviceStatus.ONLINE),
        "late": (100, 60, 200, DeviceStatus.ONLINE, DeviceStatus.DEGRADED),
        "gone": (100, 60, 400, DeviceStatus.ONLINE, DeviceStatus.OFFLINE),
        "slow_but_fine": (50, 600, 1000, DeviceStatus.ONLINE, DeviceStatus.ONLINE),
        "degraded_gone": (50, 10, 60, DeviceStatus.DEGRADED, DeviceStatus.OFFLINE),
        "already_offline": (30, 60, 9999, DeviceStatus.OFFLINE, DeviceStatus.OFFLINE),
        "pending": (20, 60, 9999, DeviceStatus.PENDING, DeviceStatus.PENDING),
    }
    expected = {}
    for count, interval, silent_s, before, after in groups.values():
        for _ in range(count):
            device = make_device(
                heartbeat_interval=interval,
                last_heartbeat=now - timedelta(seconds=silent_s),
                status=before,
                status_changed_at=now - timedelta(days=1),
            )
            expected[device.device_id] = after
    # An alert already open must not collide with the bulk insert.
    first_gone = next(d for d, s in expected.items() if s == DeviceStatus.OFFLINE)
    Alert.objects.create(
        device=Device.objects.get(device_id=first_gone), alert_type=AlertType.DEVICE_OFFLINE, message="earlier"
    )

    with django_assert_max_num_queries(12):
        result = sweep(now=now)

    assert result == {"degraded": 100, "offline": 150}
    assert statuses() == expected
    changes = DeviceStatusChange.objects.filter(changed_at=now)
    assert changes.count() == 250
    assert changes.filter(from_status="degraded", to_status="offline").count() == 50
    assert changes.filter(from_status="online", to_status="offline").count() == 100
    # 150 taken offline now, plus the 30 offline for a day without an alert (tests/health/test_offline_alerts.py).
    assert Alert.objects.filter(alert_type=AlertType.DEVICE_OFFLINE, resolved_at__isnull=True).count() == 180
    assert sweep(now=now) == {"degraded": 0, "offline": 0}


def test_device_back_through_its_status_message_gets_a_fresh_chance_to_heartbeat():
    now = timezone.now()
    device = make_device(heartbeat_interval=60, last_heartbeat=now - timedelta(hours=3), status_changed_at=now)
    never = make_device(last_heartbeat=None, status_changed_at=None)
    assert sweep(now=now + timedelta(seconds=100)) == {"degraded": 0, "offline": 0}
    assert sweep(now=now + timedelta(seconds=200))["degraded"] == 1
    device.refresh_from_db()
    never.refresh_from_db()
    assert device.status == DeviceStatus.DEGRADED and never.status == DeviceStatus.ONLINE
    # Once degraded, only a heartbeat counts: its last one is hours old, so the next sweep takes it offline.
    assert sweep(now=now + timedelta(seconds=230))["offline"] == 1
