"""The snapshots a live page starts from (devices/cockpit/live.py) agree with the events and the API that follow."""

import pytest
from django.core.cache import cache

from acuvim_console.api.dashboard import alert_counts, device_counts
from acuvim_console.core import events
from acuvim_console.protocol.enums import Severity
from alerts.models import Alert, AlertType
from devices.choices import DeviceStatus
from devices.cockpit.live import COUNTERS_CACHE_KEY, fleet_counters, recent_events
from devices.registry import status
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def test_a_status_change_in_the_recent_events_carries_what_its_live_event_carried(monkeypatch):
    published = []
    monkeypatch.setattr(status, "publish_event", lambda name, data, device_id: published.append((name, data)))
    device = make_device(status=DeviceStatus.ONLINE)

    status.change_status(device, DeviceStatus.OFFLINE, reason="lwt")

    [(name, live_data)] = published
    first = recent_events()[0]
    assert (first["event"], first["device_id"]) == (name, device.device_id) == (
        events.DEVICE_STATUS_CHANGED,
        device.device_id,
    )
    assert first["data"] == live_data


def test_the_live_counters_and_the_dashboard_api_count_the_fleet_alike():
    devices = [make_device(status=s) for s in ("online", "online", "degraded", "offline", "pending")]
    for alert_type, severity, acknowledged in (
        (AlertType.OVERVOLTAGE, Severity.CRITICAL, False),
        (AlertType.LOW_HEAP, Severity.WARNING, True),
    ):
        Alert.objects.create(
            device=devices[0], alert_type=alert_type, severity=severity, message="m", acknowledged=acknowledged
        )
    cache.delete(COUNTERS_CACHE_KEY)

    counters, by_status, alerts = fleet_counters(), device_counts(), alert_counts()

    assert counters["devices"] == {status: by_status[status] for status in DeviceStatus.values}
    assert counters["devices"] == {"pending": 1, "online": 2, "degraded": 1, "offline": 1, "decommissioned": 0}
    assert counters["alerts"] == {severity: alerts[severity] for severity in Severity.values}
    assert counters["alerts_unacknowledged"] == alerts["unacknowledged"] == 1
