"""raise_alert / resolve_alert: one open alert per device and type, repeats counted."""

import pytest

from alerts.models import Alert, AlertSource
from alerts.services import raise_alert, resolve_alert
from tests.factories import make_device

pytestmark = pytest.mark.django_db


def test_repeated_alert_bumps_the_open_one_and_a_resolved_one_opens_anew():
    device = make_device()
    first = raise_alert(device, "low_heap", "warning", "heap 20 kB", value=20000.0)
    again = raise_alert(device, "low_heap", "critical", "heap 10 kB", value=10000.0)
    assert again.pk == first.pk
    assert again.occurrences == 2 and again.severity == "critical" and again.value == 10000.0
    assert again.source == AlertSource.CONSOLE

    assert resolve_alert(device, "low_heap", reason="heap recovered")
    assert not resolve_alert(device, "low_heap")
    resolved = Alert.objects.get(pk=first.pk)
    assert resolved.resolved_at is not None and resolved.metadata["resolution"] == "heap recovered"

    third = raise_alert(device, "low_heap", "warning", "heap low again")
    assert third.pk != first.pk and third.occurrences == 1


def test_alerts_of_other_types_and_devices_are_independent():
    one, two = make_device(), make_device()
    raise_alert(one, "overvoltage", "warning", "V1 high", source=AlertSource.DEVICE)
    raise_alert(two, "overvoltage", "warning", "V1 high", source=AlertSource.DEVICE)
    raise_alert(one, "phase_loss", "critical", "L3 lost", source=AlertSource.DEVICE)
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 3
    assert resolve_alert(one, "overvoltage")
    assert Alert.objects.filter(device=two, resolved_at__isnull=True).count() == 1
