"""A gateway its LWT took offline gets a `device_offline` alert from the sweep once the grace has passed.

The grace is the longer of the device's offline threshold (5 heartbeat intervals) and
HEALTH_OFFLINE_ALERT_GRACE_SECONDS, counted from the moment it went offline.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.core.events import ALERT_CREATED
from acuvim_console.protocol.payloads import parse_heartbeat, parse_status
from alerts.models import Alert, AlertType
from alerts.services import resolve_alert
from devices.choices import DeviceStatus
from devices.health.heartbeats import handle_heartbeat
from devices.health.presence import handle_status
from devices.health.sweep import offline_past_grace, sweep
from tests.factories import make_device

pytestmark = pytest.mark.django_db

LWT = {"state": "offline", "reason": "lwt"}
ONLINE = {"state": "online", "conn": "wifi"}


@pytest.fixture(autouse=True)
def grace(settings):
    settings.HEALTH_OFFLINE_ALERT_GRACE_SECONDS = 180
    settings.HEALTH_OFFLINE_AFTER_MISSED = 5
    settings.HEALTH_SWEEP_DETAIL_LIMIT = 500


def open_offline_alerts(device=None):
    alerts = Alert.objects.filter(alert_type=AlertType.DEVICE_OFFLINE, resolved_at__isnull=True)
    return alerts.filter(device=device) if device is not None else alerts


def power_off(device, at):
    assert handle_status(device, parse_status(LWT), at)
    device.refresh_from_db()
    assert device.status == DeviceStatus.OFFLINE


def test_lwt_offline_device_is_alerted_only_after_the_grace_and_coming_back_resolves_it(
    live_events, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    device = make_device(heartbeat_interval=60, last_heartbeat=t0, status_changed_at=t0 - timedelta(days=1))
    power_off(device, t0)

    # 5 x 60 s is longer than the 180 s setting, so the device's own threshold decides.
    assert sweep(now=t0 + timedelta(seconds=299)) == {"degraded": 0, "offline": 0}
    assert not open_offline_alerts().exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=t0 + timedelta(seconds=301)) == {"degraded": 0, "offline": 0}
    alert = open_offline_alerts(device).get()
    assert alert.severity == "critical" and alert.source == "console"
    assert alert.message == f"{device.device_id} disconnected and has not come back"
    assert [data["device_id"] for name, data in live_events.fleet() if name == ALERT_CREATED] == [device.device_id]

    # Later sweeps leave the one open alert alone (no new alert, no bumped occurrences).
    sweep(now=t0 + timedelta(seconds=900))
    alert.refresh_from_db()
    assert (open_offline_alerts().count(), alert.occurrences) == (1, 1)

    with django_capture_on_commit_callbacks(execute=True):
        assert handle_status(device, parse_status(ONLINE), t0 + timedelta(seconds=1000))
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_the_setting_is_the_floor_for_devices_that_heartbeat_often():
    t0 = timezone.now()
    device = make_device(heartbeat_interval=10, last_heartbeat=t0)
    power_off(device, t0)
    sweep(now=t0 + timedelta(seconds=179))
    assert not open_offline_alerts().exists()
    sweep(now=t0 + timedelta(seconds=181))
    assert open_offline_alerts(device).exists()


def test_a_reboot_within_the_grace_raises_nothing(django_capture_on_commit_callbacks):
    t0 = timezone.now()
    device = make_device(heartbeat_interval=60, last_heartbeat=t0)
    power_off(device, t0)
    sweep(now=t0 + timedelta(seconds=45))
    with django_capture_on_commit_callbacks(execute=True):
        assert handle_status(device, parse_status(ONLINE), t0 + timedelta(seconds=50))
    # Back and heartbeating again, swept every 30 s until well past the grace of the LWT.
    for seconds in range(55, 600, 30):
        if seconds % 60 == 55:
            handle_heartbeat(device, parse_heartbeat({"ts": None, "hb_s": 60}), t0 + timedelta(seconds=seconds))
        assert sweep(now=t0 + timedelta(seconds=seconds + 1)) == {"degraded": 0, "offline": 0}
    device.refresh_from_db()
    assert device.status == DeviceStatus.ONLINE
    assert not Alert.objects.filter(alert_type=AlertType.DEVICE_OFFLINE).exists()


def test_a_reboot_does_not_reopen_the_grace_of_a_later_outage():
    """Each outage gets its own grace: the clock starts at the latest LWT."""
    t0 = timezone.now()
    device = make_device(heartbeat_interval=60, last_heartbeat=t0)
    power_off(device, t0)
    assert handle_status(device, parse_status(ONLINE), t0 + timedelta(seconds=200))
    device.refresh_from_db()
    power_off(device, t0 + timedelta(seconds=250))
    sweep(now=t0 + timedelta(seconds=400))
    assert not open_offline_alerts().exists()
    sweep(now=t0 + timedelta(seconds=551))
    assert open_offline_alerts(device).exists()


def test_pending_and_decommissioned_devices_are_never_alerted():
    long_ago = timezone.now() - timedelta(days=3)
    for status in (DeviceStatus.PENDING, DeviceStatus.DECOMMISSIONED):
        make_device(status=status, status_changed_at=long_ago, last_heartbeat=long_ago)
    assert sweep() == {"degraded": 0, "offline": 0}
    assert not Alert.objects.exists()


def test_an_alert_the_operator_resolved_is_not_raised_again_for_the_same_outage():
    t0 = timezone.now()
    device = make_device(heartbeat_interval=60, last_heartbeat=t0)
    power_off(device, t0)
    sweep(now=t0 + timedelta(seconds=301))
    assert resolve_alert(device, AlertType.DEVICE_OFFLINE, reason="known: site power cut")
    sweep(now=t0 + timedelta(seconds=3600))
    assert not open_offline_alerts().exists()
    # An alert from an earlier outage does not count for this one.
    assert handle_status(device, parse_status(ONLINE), t0 + timedelta(seconds=3700))
    device.refresh_from_db()
    power_off(device, t0 + timedelta(seconds=3800))
    sweep(now=t0 + timedelta(seconds=4101))
    assert open_offline_alerts(device).count() == 1
    assert Alert.objects.filter(device=device, alert_type=AlertType.DEVICE_OFFLINE).count() == 2


def test_a_mass_outage_is_alerted_in_one_statement(settings, django_assert_max_num_queries):
    settings.HEALTH_SWEEP_DETAIL_LIMIT = 10
    now = timezone.now()
    went_away = now - timedelta(hours=1)
    lost = [
        make_device(status=DeviceStatus.OFFLINE, status_changed_at=went_away, last_heartbeat=went_away)
        for _ in range(40)
    ]
    already = lost[0]
    Alert.objects.create(device=already, alert_type=AlertType.DEVICE_OFFLINE, message="earlier")
    recent = make_device(status=DeviceStatus.OFFLINE, status_changed_at=now - timedelta(seconds=30))
    assert offline_past_grace(now).count() == 39

    with django_assert_max_num_queries(8):
        sweep(now=now)

    assert open_offline_alerts().count() == 40
    assert set(open_offline_alerts().values_list("device_id", flat=True)) == {d.pk for d in lost}
    assert not open_offline_alerts(recent).exists()
    assert open_offline_alerts(already).get().message == "earlier"
    sample = open_offline_alerts(lost[1]).get()
    assert sample.message == f"{lost[1].device_id} disconnected and has not come back"
    assert (sample.severity, sample.source, sample.occurrences) == ("critical", "console", 1)
    assert not offline_past_grace(now).exists()
