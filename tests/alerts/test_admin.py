"""The alerts admin pages as roles see them: rules and silences for Operators, channels for Admins."""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER
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


def test_silencing_from_the_list_takes_a_duration_and_a_reason_and_the_delivery_log(client, as_role):
    user = as_role(OPERATOR)
    device = make_device()
    alert = Alert.objects.create(device=device, alert_type=AlertType.DEVICE_OFFLINE, message="gone")
    selection = {"action": "silence_devices", "_selected_action": [alert.pk], "silence_for": "24h"}
    page = client.post("/admin/alerts/alert/", selection, follow=True).content.decode()
    assert "Nothing silenced: silence_reason: say why" in page and not Silence.objects.exists()
    client.post("/admin/alerts/alert/", {**selection, "silence_reason": "  feeder   works "})
    silence = Silence.objects.get()
    assert silence.device == device and silence.created_by == user
    assert silence.reason.startswith(f"feeder works (silenced from the alert inbox by {user} at ")
    assert timedelta(hours=23, minutes=59) < silence.ends_at - timezone.now() <= timedelta(hours=24)
    channel = NotificationChannel.objects.create(name="ops", kind="email", to=["a@example.com"])
    Delivery.objects.create(channel=channel, status="retrying", last_error="SMTPConnectError: refused")
    assert "SMTPConnectError: refused" in client.get("/admin/alerts/delivery/").content.decode()


def test_the_list_records_who_resolved_and_shows_it(client, as_role):
    user = as_role(OPERATOR)
    alert = Alert.objects.create(device=make_device(), alert_type=AlertType.LOW_HEAP, message="heap")
    client.post("/admin/alerts/alert/", {"action": "resolve", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.resolved_by == user and alert.resolved_at is not None
    assert f"resolved {user} {alert.resolved_at:%Y-%m-%d %H:%M}" in client.get("/admin/alerts/alert/").content.decode()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[1]", "body"),
        (b"{\"action\": \"delete\"}", "action"),
        (b"{\"action\": \"silence\", \"duration\": \"5y\", \"reason\": \"x\"}", "silence"),
        (b"{\"action\": \"silence\", \"duration\": \"1h\", \"reason\": {\"a\": 1}}", "silence"),
        (b"{\"action\": \"silence\", \"duration\": \"1h\", \"reason\": \"" + b"x" * 121 + b"\"}", "silence"),
        (b"{\"action\": \"silence\", \"duration\": \"1h\", \"reason\": \"   \"}", "silence"),
    ],
)
def test_the_device_page_inbox_refuses_what_it_cannot_do_with_the_reason(client, as_role, body, error):
    as_role(OPERATOR)
    alert = Alert.objects.create(device=make_device(), alert_type=AlertType.LOW_HEAP, message="heap")
    response = client.post(f"/admin/alerts/alert/{alert.pk}/inbox/", body, content_type="application/json")
    assert response.status_code == 400 and error in response.json()["errors"], response.content
    assert not Silence.objects.exists()


def test_a_viewer_may_not_handle_alerts_from_the_device_page(client, as_role):
    as_role(VIEWER)
    alert = Alert.objects.create(device=make_device(), alert_type=AlertType.LOW_HEAP, message="heap")
    for action in ("acknowledge", "resolve", "silence"):
        response = client.post(f"/admin/alerts/alert/{alert.pk}/inbox/", {"action": action},
                               content_type="application/json")
        assert response.status_code == 403
    assert client.post("/admin/alerts/alert/999999/inbox/", {"action": "x"},
                       content_type="application/json").status_code == 400
    alert.refresh_from_db()
    assert not alert.acknowledged and alert.resolved_at is None


RULE_FORM = {"name": "V1 high", "severity": "warning", "field": "v1", "op": ">", "threshold": "250",
             "clear_threshold": "245", "duration_s": "10", "clear_duration_s": "0"}


def test_the_rule_editor_dry_runs_the_unsaved_form_and_refuses_what_saving_would(client, as_role):
    as_role(OPERATOR)
    device = make_device()
    store_readings(series(device, timezone.now() - timedelta(minutes=5), "v1", [260, 261, 262, 230]))
    assert 'id="acv-dry-run-button"' in client.get("/admin/alerts/alertrule/add/").content.decode()
    answer = client.post("/admin/alerts/alertrule/dry-run/", {**RULE_FORM, "device": str(device.pk)})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["would_open"], answer.json()["readings"], answer.json()["resolution"]) == (1, 4, "raw")
    as_json = client.post("/admin/alerts/alertrule/dry-run/", {**RULE_FORM, "duration_s": 0, "threshold": 250},
                          content_type="application/json")
    assert as_json.status_code == 200 and as_json.json()["would_open"] == 1
    assert not AlertRule.objects.exists()
    wrong = client.post("/admin/alerts/alertrule/dry-run/", {**RULE_FORM, "clear_threshold": "260"})
    assert wrong.status_code == 400 and "at or below the threshold" in wrong.json()["errors"]["clear_threshold"]
    health = client.post("/admin/alerts/alertrule/dry-run/", {**RULE_FORM, "field": "offline_s"})
    assert health.status_code == 400 and "no stored history" in health.json()["errors"]["field"]
    assert client.get("/admin/alerts/alertrule/dry-run/").status_code == 405
    as_role(VIEWER)
    assert client.post("/admin/alerts/alertrule/dry-run/", RULE_FORM).status_code == 403


@pytest.mark.parametrize("threshold", ["", "two hundred", "NaN", "inf"])
def test_a_rule_without_a_usable_threshold_is_a_field_error_in_the_editor_and_its_dry_run(client, as_role, threshold):
    """The model's cross-field checks never compare against a threshold the form already refused."""
    as_role(OPERATOR)
    form = {**RULE_FORM, "threshold": threshold}
    page = client.post("/admin/alerts/alertrule/add/", form)
    assert page.status_code == 200 and "threshold" in page.context["adminform"].form.errors
    for body in ({**form, "op": "outside", "threshold_high": "260"}, form):
        answer = client.post("/admin/alerts/alertrule/dry-run/", body)
        assert answer.status_code == 400 and "threshold" in answer.json()["errors"], answer.content
    assert not AlertRule.objects.exists()


CHANNEL_FORM = {"name": "ops", "kind": "email", "enabled": "on", "url": "", "secret": "", "body_format": "json",
                "to": '["ops@example.com"]', "min_severity": "info", "alert_types": "[]", "hourly_cap": "60"}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"to": '"ops@example.com"'}, "to", "A list of at most 50 email addresses"),
        ({"to": '["ops@example.com", "not an address"]'}, "to", "'not an address' is not an email address"),
        ({"to": "[1]"}, "to", "'1' is not an email address"),
        ({"alert_types": '"rule"'}, "alert_types", "A list of alert kinds"),
        ({"alert_types": '["heap"]'}, "alert_types", "'heap' is not an alert kind"),
        ({"kind": "webhook", "url": "ftp://files.example.com/hook"}, "url", "A webhook URL is http:// or https://"),
    ],
)
def test_the_admin_refuses_a_channel_the_api_would_refuse(client, as_role, change, field, words):
    """The admin writes the model's JSON fields as typed: the same checks as the API, on the model."""
    as_role(ADMIN)
    page = client.post("/admin/alerts/notificationchannel/add/", {**CHANNEL_FORM, **change})
    assert page.status_code == 200 and words in " ".join(page.context["adminform"].form.errors[field])
    assert not NotificationChannel.objects.exists()
    assert client.post("/admin/alerts/notificationchannel/add/", CHANNEL_FORM).status_code == 302
