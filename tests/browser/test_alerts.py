"""The alert inbox on the device page and the rule editor's dry run, clicked in headless Chromium."""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.operators.roles import OPERATOR
from acuvim_console.protocol.enums import Severity
from alerts.models import Alert, AlertRule, AlertType, Silence
from alerts.services import raise_alert
from tests.browser.conftest import log_in, screenshot, wait_live
from tests.factories import make_device, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_acknowledge_silence_and_resolve_from_the_device_page(console_server, page):
    device = make_device(name="Feeder 4")
    rule = AlertRule.objects.create(name="V1 high", field="v1", op=">", threshold=250, device=device)
    alert = Alert.objects.create(
        device=device, alert_type=rule.alert_type, rule=rule, severity=Severity.WARNING,
        message="V1 high: v1 = 252 (> 250)", occurrences=3, last_seen_at=timezone.now() - timedelta(minutes=2),
    )
    user = make_user(OPERATOR)
    log_in(page, console_server, user)
    page.goto(f"{console_server.url}/admin/devices/device/{device.pk}/change/")
    wait_live(page)
    row = f"#acv-alerts tr[data-alert-id='{alert.pk}']"
    assert page.inner_text(f"{row} [data-field=title]") == "V1 high"
    assert page.inner_text(f"{row} [data-field=occurrences]") == "3"
    assert page.inner_text(f"{row} [data-field=last_seen_at]") == "2 min ago"

    page.click(f"{row} [data-alert-action=acknowledge]")
    page.wait_for_selector(f"{row} [data-alert-state]:text-is('acknowledged')")
    assert page.inner_text(f"{row} [data-field=handled]") == f"ack by {user.username}"
    alert.refresh_from_db()
    assert alert.acknowledged_by == user and timezone.now() - alert.acknowledged_at < timedelta(seconds=30)

    # Live updates go on: a repeat from the rule counts up and moves "last seen" without a reload.
    raise_alert(device, rule.alert_type, "warning", "V1 high: v1 = 255 (> 250)", rule_id=rule.pk)
    page.wait_for_selector(f"{row} [data-field=occurrences]:text-is('4')")
    assert page.inner_text(f"{row} [data-field=last_seen_at]") == "just now"

    page.click(f"{row} [data-alert-action=silence]")
    page.click("#acv-silence-form button[type=submit]")  # no reason: the form asks for one, nothing is sent
    assert page.locator("#acv-silence-reason:invalid").count() == 1 and not Silence.objects.exists()
    page.select_option("#acv-silence-for", "1h")
    page.fill("#acv-silence-reason", "switchgear maintenance")
    page.click("#acv-silence-form button[type=submit]")
    page.wait_for_selector("#acv-alert-result:has-text('Silenced until')")
    assert page.locator("#acv-silence-form").is_hidden()
    silence = Silence.objects.get()
    assert (silence.device, silence.created_by) == (device, user)
    assert silence.reason.startswith("switchgear maintenance (silenced from the alert inbox by ")
    assert timedelta(minutes=59) < silence.ends_at - timezone.now() <= timedelta(hours=1)

    page.click(f"{row} [data-alert-action=resolve]")
    page.wait_for_selector(f"{row} [data-alert-state]:text-is('resolved')")
    assert page.inner_text(f"{row} [data-field=handled]") == f"ack by {user.username}, resolved by {user.username}"
    assert page.locator(f"{row} [data-alert-action=resolve]").is_hidden()
    alert.refresh_from_db()
    assert alert.resolved_by == user and alert.resolved_at is not None

    # A new alert of the device appears at the top, with its buttons.
    fresh = raise_alert(device, AlertType.LOW_HEAP, "critical", "heap 21 KiB")
    page.wait_for_selector(f"#acv-alerts tr[data-alert-id='{fresh.pk}'] [data-alert-action=acknowledge]")
    assert page.locator("#acv-alerts tr").first.get_attribute("data-alert-id") == str(fresh.pk)
    screenshot(page, "device-alerts")


def test_the_rule_editor_dry_runs_the_form_before_it_is_saved(console_server, page):
    from telemetry.ingest import store_readings
    from tests.alerts.conftest import series

    device = make_device()
    start = timezone.now() - timedelta(days=1)
    store_readings(series(device, start, "v1", [230, 255, 256, 257, 231, 252, 253, 230], every_s=5))
    log_in(page, console_server, make_user(OPERATOR))
    page.goto(f"{console_server.url}/admin/alerts/alertrule/add/")
    page.fill("#id_name", "V1 high")
    page.select_option("#id_field", "v1")
    page.select_option("#id_op", ">")
    page.fill("#id_threshold", "250")
    page.fill("#id_duration_s", "10")
    page.click("#acv-dry-run-button")
    summary = page.wait_for_selector("[data-dry-run-summary]")
    assert summary.inner_text().startswith("Would have opened 1 alert(s) on 1 of 1 device(s), from 8 readings")
    assert device.device_id in page.inner_text("#acv-dry-run-result")
    page.fill("#id_duration_s", "0")  # tuned: every breach opens at once
    page.click("#acv-dry-run-button")
    page.wait_for_selector("[data-dry-run-summary]:has-text('Would have opened 2 alert(s)')")
    screenshot(page, "rule-dry-run")
    assert not AlertRule.objects.exists()
