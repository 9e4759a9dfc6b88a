"""The alerts admin pages as roles see them: rules and silences for Operators, channels for Admins."""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.operators.roles import ADMIN, OPERATOR
from alerts.models import Alert, AlertRule, AlertType, Delivery, NotificationChannel, Silence
from telemetry.ingest import store_readings
from tests.alerts.conftest import series
from tests.factories import make_device, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    def login(role):
        user = make_user(role)
        client.force_login(user)
        return user

    return login


def test_an_operator_writes_a_rule_in_the_admin_and_dry_runs_it(client, as_role):
    as_role(OPERATOR)
    device = make_device()
    response = client.post("/admin/alerts/alertrule/add/", {
        "name": "V1 high", "enabled": "", "severity": "warning", "field": "v1", "op": ">", "threshold": "250",
        "clear_threshold": "245", "duration_s": "10", "clear_duration_s": "0", "device": str(device.pk),
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = AlertRule.objects.get()
    assert rule.enabled is False and rule.created_by.username
    store_readings(series(device, timezone.now() - timedelta(minutes=5), "v1", [260, 261, 262]))
    page = client.post("/admin/alerts/alertrule/", {"action": "dry_run_7_days", "_selected_action": [rule.pk]},
                       follow=True)
    assert "V1 high: would have opened 1 alert(s) on 1 of 1 device(s) over 3 readings" in page.content.decode()


def test_the_admin_refuses_a_rule_whose_clear_threshold_is_on_the_wrong_side(client, as_role):
    as_role(OPERATOR)
    response = client.post("/admin/alerts/alertrule/add/", {
        "name": "bad", "severity": "warning", "field": "v1", "op": ">", "threshold": "250",
        "clear_threshold": "260", "duration_s": "0", "clear_duration_s": "0",
    })
    assert response.status_code == 200 and "at or below the threshold" in response.content.decode()


def test_operators_see_channels_read_only_and_admins_keep_the_secret_when_the_field_is_left_empty(client, as_role):
    channel = NotificationChannel.objects.create(name="ops", kind="webhook", url="https://h.example.com/x",
                                                 secret="k3y")
    as_role(OPERATOR)
    assert client.get("/admin/alerts/notificationchannel/add/").status_code == 403
    as_role(ADMIN)
    page = client.get(f"/admin/alerts/notificationchannel/{channel.pk}/change/").content.decode()
    assert "k3y" not in page
    response = client.post(f"/admin/alerts/notificationchannel/{channel.pk}/change/", {
        "name": "ops", "kind": "webhook", "enabled": "on", "url": "https://h.example.com/y", "secret": "",
        "body_format": "json", "to": "[]", "min_severity": "info", "alert_types": "[]", "hourly_cap": "60",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    channel.refresh_from_db()
    assert channel.secret == "k3y" and channel.url == "https://h.example.com/y"


def test_silencing_from_the_inbox_and_the_delivery_log(client, as_role):
    user = as_role(OPERATOR)
    device = make_device()
    alert = Alert.objects.create(device=device, alert_type=AlertType.DEVICE_OFFLINE, message="gone")
    client.post("/admin/alerts/alert/", {"action": "silence_devices_4h", "_selected_action": [alert.pk]})
    silence = Silence.objects.get()
    assert silence.device == device and silence.created_by == user and str(user) in silence.reason
    assert timedelta(hours=3, minutes=59) < silence.ends_at - timezone.now() <= timedelta(hours=4)
    channel = NotificationChannel.objects.create(name="ops", kind="email", to=["a@example.com"])
    Delivery.objects.create(channel=channel, status="retrying", last_error="SMTPConnectError: refused")
    assert "SMTPConnectError: refused" in client.get("/admin/alerts/delivery/").content.decode()
