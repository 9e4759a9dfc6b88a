"""Notifications reaching a person: a real SMTP server and a real webhook receiver on localhost."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.protocol.enums import Severity
from alerts import notifications
from alerts.models import Alert, AlertType, Delivery, DeliveryStatus, Notice, NoticeStatus, NotificationChannel, Silence
from alerts.services import raise_alert, resolve_alert
from devices.health.sweep import sweep as health_sweep
from tests.factories import make_device, make_group

pytestmark = pytest.mark.django_db

SECRET = "s3cret-signing-key"


@pytest.fixture(autouse=True)
def storm_settings(settings):
    settings.NOTIFY_DIGEST_WINDOW_S = 1
    settings.NOTIFY_DIGEST_AFTER = 3
    settings.NOTIFY_RETRY_BASE_S = 0
    settings.NOTIFY_RETRY_MAX = 5
    settings.HEALTH_SWEEP_DETAIL_LIMIT = 500


def hook_channel(receiver, **fields) -> NotificationChannel:
    defaults = {"name": "ops", "kind": "webhook", "url": receiver.url, "secret": SECRET, "min_severity": "info"}
    return NotificationChannel.objects.create(**{**defaults, **fields})


def offline(device) -> Alert:
    return raise_alert(device, AlertType.DEVICE_OFFLINE, Severity.CRITICAL, f"{device.device_id} offline")


def test_an_email_channel_sends_the_alert_through_the_smtp_server(smtp_server, django_capture_on_commit_callbacks):
    NotificationChannel.objects.create(name="ops mail", kind="email", to=["ops@example.com"], min_severity="warning")
    device = make_device(name="Feeder 4")
    with django_capture_on_commit_callbacks(execute=True):
        offline(device)
    assert notifications.sweep()["sent"] == 1
    (message,) = smtp_server.messages
    assert message.rcpt_tos == ["ops@example.com"]
    text = message.content.decode()
    assert f"Subject: Acuvim: [CRITICAL] opened: {device.device_id}" in text
    assert "/admin/alerts/alert/?state=open" in text
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_a_device_message_cannot_add_mail_headers(smtp_server):
    NotificationChannel.objects.create(name="ops mail", kind="email", to=["ops@example.com"], min_severity="info")
    device = make_device()
    raise_alert(device, AlertType.OVERVOLTAGE, Severity.WARNING, "V1 high\r\nBcc: thief@example.com")
    assert notifications.sweep()["sent"] == 1
    (message,) = smtp_server.messages
    assert message.rcpt_tos == ["ops@example.com"]
    headers = message.content.decode().split("\r\n\r\n", 1)[0].replace("\r\n ", " ")  # unfolded
    assert "\nBcc:" not in headers and "V1 high Bcc: thief@example.com" in headers


def test_a_webhook_is_signed_over_its_raw_body_and_carries_alert_device_and_timestamp(webhook):
    receiver = webhook(secret=SECRET)
    hook_channel(receiver)
    group = make_group("Building A")
    device = make_device(group=group)
    alert = offline(device)
    before = int(time.time())
    notifications.sweep()
    (request,) = receiver.requests
    assert request["signature_ok"]
    document = json.loads(request["body"])
    assert int(request["headers"]["X-Acuvim-Timestamp"]) == document["timestamp"] >= before
    assert document["digest"] is False and document["count"] == 1
    (item,) = document["notifications"]
    assert item["event"] == "opened" and item["alert"]["id"] == alert.pk
    assert item["device"] == {"device_id": device.device_id, "name": "", "group": "Building A", "status": "online"}


def test_a_receiver_with_another_secret_sees_a_bad_signature(webhook):
    receiver = webhook(secret="not-the-channel-secret")
    hook_channel(receiver)
    offline(make_device())
    notifications.sweep()
    assert receiver.requests and not receiver.requests[0]["signature_ok"]


def test_slack_and_teams_get_a_text_body(webhook):
    receiver = webhook(secret=SECRET)
    hook_channel(receiver, body_format="text")
    device = make_device()
    offline(device)
    notifications.sweep()
    (document,) = receiver.documents()
    assert list(document) == ["text"] and device.device_id in document["text"]


def test_a_receiver_failing_twice_gets_the_notification_on_the_third_attempt(webhook):
    receiver = webhook(secret=SECRET, fail_first=2)
    hook_channel(receiver)
    offline(make_device())
    notifications.sweep()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING and "HTTP 503" in delivery.last_error
    notifications.sweep()
    notifications.sweep()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == (DeliveryStatus.SENT, 3, 3)
    assert {r["body"] for r in receiver.requests} != set() and all(r["signature_ok"] for r in receiver.requests)


def test_retries_back_off_and_give_up_after_the_last_attempt(webhook, settings):
    settings.NOTIFY_RETRY_BASE_S, settings.NOTIFY_RETRY_MAX = 10, 2
    receiver = webhook(fail_first=99)
    hook_channel(receiver)
    offline(make_device())
    notifications.sweep()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert 9 <= (delivery.next_attempt_at - timezone.now()).total_seconds() <= 10
    notifications.sweep()
    assert len(receiver.requests) == 1  # not due yet
    notifications.sweep(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and len(receiver.requests) == 2


@pytest.mark.parametrize("detail_limit", [500, 10], ids=["alert by alert", "written in bulk"])
def test_a_50_device_storm_in_one_sweep_is_one_digest_naming_every_alert(webhook, settings, detail_limit):
    """A site loses power: 50 meters stop heartbeating at once; the channel gets one digest, not 50 messages.

    Beyond HEALTH_SWEEP_DETAIL_LIMIT the sweep inserts the offline alerts in one statement: announced alike.
    """
    settings.HEALTH_SWEEP_DETAIL_LIMIT = detail_limit
    receiver = webhook(secret=SECRET)
    hook_channel(receiver)
    long_ago = timezone.now() - timedelta(hours=1)
    devices = [make_device(heartbeat_interval=60, last_heartbeat=long_ago) for _ in range(50)]
    assert health_sweep()["offline"] == 50
    notifications.sweep()
    (digest,) = receiver.documents()
    assert receiver.requests[0]["signature_ok"]
    assert digest["digest"] is True and digest["count"] == 50 and digest["more"] == 0
    assert {item["device"]["device_id"] for item in digest["notifications"]} == {d.device_id for d in devices}


def test_a_storm_arriving_alert_by_alert_sends_the_first_few_then_one_digest_per_window(webhook, settings):
    """With a worker each alert is flushed as it opens: 3 single messages, then one digest per window."""
    settings.NOTIFY_DIGEST_WINDOW_S = 60
    receiver = webhook(secret=SECRET)
    hook_channel(receiver)
    devices = [make_device() for _ in range(50)]
    for device in devices:
        offline(device)
        notifications.sweep()
    assert len(receiver.requests) == 3
    after_window = timezone.now() + timedelta(seconds=61)
    notifications.sweep(now=after_window)
    assert len(receiver.requests) == 4
    digest = receiver.documents()[-1]
    assert digest["digest"] is True and digest["count"] == 47
    named = {item["device"]["device_id"] for document in receiver.documents() for item in document["notifications"]}
    assert named == {device.device_id for device in devices}
    assert all(request["signature_ok"] for request in receiver.requests)

    # They all come back within the digest's window: the resolves wait for the next one, batched alike.
    for device in devices:
        resolve_alert(device, AlertType.DEVICE_OFFLINE, reason="status online")
        notifications.sweep(now=after_window + timedelta(seconds=30))
    assert len(receiver.requests) == 4
    notifications.sweep(now=after_window + timedelta(seconds=61))
    assert len(receiver.requests) == 5
    resolves = receiver.documents()[-1]
    assert resolves["count"] == 50 and {item["event"] for item in resolves["notifications"]} == {"resolved"}


def test_single_messages_resume_once_a_whole_window_passes_quietly(webhook, settings):
    settings.NOTIFY_DIGEST_WINDOW_S = 60
    receiver = webhook()
    hook_channel(receiver)
    for _ in range(5):
        offline(make_device())
    notifications.sweep()
    assert receiver.documents()[0]["count"] == 5
    offline(make_device())
    notifications.sweep(now=timezone.now() + timedelta(seconds=61))
    assert [document["digest"] for document in receiver.documents()] == [True, False]


def test_a_digest_past_the_listing_limit_names_a_count_and_a_link(webhook, settings):
    settings.NOTIFY_DIGEST_AFTER, settings.NOTIFY_DIGEST_MAX_LISTED = 1, 5
    receiver = webhook()
    hook_channel(receiver, body_format="text")
    for _ in range(12):
        offline(make_device())
    notifications.sweep()
    (text,) = [d["text"] for d in receiver.documents()]
    assert "12 alert notifications (12 opened)" in text and "... and 7 more" in text and "?state=open" in text


def test_the_hourly_cap_holds_notifications_for_a_later_digest(webhook, settings):
    settings.NOTIFY_DIGEST_WINDOW_S = 0
    receiver = webhook()
    channel = hook_channel(receiver, hourly_cap=2)
    for _ in range(2):
        offline(make_device())
        notifications.sweep()
    offline(make_device())
    notifications.sweep()
    assert len(receiver.requests) == 2
    assert channel.notices.filter(status=NoticeStatus.QUEUED).count() == 1


def test_routing_by_minimum_severity_scope_and_alert_kind(webhook):
    group = make_group()
    in_group, elsewhere = make_device(group=group), make_device()
    receiver = webhook()
    critical_only = hook_channel(receiver, name="critical", min_severity="critical")
    site = hook_channel(receiver, name="site", group=group)
    heap = hook_channel(receiver, name="heap", alert_types=["low_heap"])
    raise_alert(in_group, AlertType.LOW_HEAP, Severity.WARNING, "heap low")
    offline(elsewhere)
    routed = {(n.channel.name, n.alert.device_id) for n in Notice.objects.select_related("channel", "alert")}
    assert routed == {(site.name, in_group.pk), (heap.name, in_group.pk), (critical_only.name, elsewhere.pk)}


def test_a_silenced_group_keeps_its_alerts_open_but_tells_nobody(webhook):
    group = make_group()
    silenced, other = make_device(group=group), make_device()
    receiver = webhook()
    hook_channel(receiver)
    ends = timezone.now() + timedelta(hours=2)
    window = Silence.objects.create(group=group, reason="transformer maintenance", ends_at=ends)
    silenced_alert = offline(silenced)
    offline(other)
    notifications.sweep()
    told = [item["device"]["device_id"] for d in receiver.documents() for item in d["notifications"]]
    assert told == [other.device_id]
    assert silenced_alert.is_open
    notice = Notice.objects.get(alert=silenced_alert)
    assert notice.status == NoticeStatus.SILENCED and notice.silence == window


def test_a_silenced_rule_holds_back_only_that_rules_alerts_and_a_device_and_rule_silence_needs_both(webhook):
    from alerts.models import AlertRule

    receiver = webhook()
    hook_channel(receiver)
    noisy = AlertRule.objects.create(name="THD high", field="thd_v1", op=">", threshold=8)
    other = AlertRule.objects.create(name="V1 high", field="v1", op=">", threshold=250)
    first, second = make_device(), make_device()
    ends = timezone.now() + timedelta(hours=1)
    Silence.objects.create(rule=noisy, reason="harmonic filter being tuned", ends_at=ends)
    Silence.objects.create(rule=other, device=first, reason="V1 sensor swapped on this meter", ends_at=ends)
    for device in (first, second):
        for rule in (noisy, other):
            raise_alert(device, rule.alert_type, Severity.WARNING, f"{rule.name} on {device.device_id}",
                        rule_id=rule.pk)
    offline(first)
    notifications.sweep()
    told = {(item["device"]["device_id"], item["alert"]["alert_type"])
            for document in receiver.documents() for item in document["notifications"]}
    assert told == {(second.device_id, other.alert_type), (first.device_id, AlertType.DEVICE_OFFLINE)}
    assert Notice.objects.filter(status=NoticeStatus.SILENCED).count() == 3
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 5


def test_an_expired_silence_silences_nothing(webhook):
    device = make_device()
    receiver = webhook()
    hook_channel(receiver)
    Silence.objects.create(device=device, reason="done", starts_at=timezone.now() - timedelta(hours=2),
                           ends_at=timezone.now() - timedelta(hours=1))
    offline(device)
    notifications.sweep()
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_logged_with_the_reason(settings):
    settings.NOTIFY_SEND_TIMEOUT_S = 2
    NotificationChannel.objects.create(name="gone", kind="webhook", url="http://127.0.0.1:9/hook", min_severity="info")
    offline(make_device())
    notifications.sweep()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING and "URLError" in delivery.last_error


@pytest.fixture
def celery_conf():
    """Change the Celery app's configuration for one test and put it back."""
    from acuvim_console.celery import app

    saved = {}

    def change(**overrides):
        saved.update({key: app.conf[key] for key in overrides if key not in saved})
        app.conf.update(overrides)

    yield change
    app.conf.update(saved)
    app.pool.force_close_all()


def test_with_a_worker_the_alert_is_flushed_and_sent_as_soon_as_it_commits(
    webhook, settings, celery_conf, django_capture_on_commit_callbacks
):
    """With a worker the flush and the send are Celery tasks queued after the commit (run inline here)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_conf(task_always_eager=True)
    receiver = webhook(secret=SECRET)
    hook_channel(receiver)
    with django_capture_on_commit_callbacks(execute=True):
        offline(make_device())
    assert len(receiver.requests) == 1 and Delivery.objects.get().status == DeliveryStatus.SENT


def test_a_broker_outage_costs_the_alert_path_a_log_line_and_the_pass_delivers_later(
    webhook, settings, celery_conf, django_capture_on_commit_callbacks, caplog
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_conf(task_always_eager=False, broker_url="redis://127.0.0.1:1/0", task_publish_retry=False)
    receiver = webhook()
    hook_channel(receiver)
    with django_capture_on_commit_callbacks(execute=True):
        alert = offline(make_device())
    assert alert.is_open and "could not queue alerts.tasks.flush_channel" in caplog.text
    assert not receiver.requests
    notifications.sweep()
    assert len(receiver.requests) == 1


def test_alerts_a_silence_held_back_are_told_once_in_one_digest_when_it_ends(webhook):
    receiver = webhook(secret=SECRET)
    hook_channel(receiver)
    site = make_group("Building A")
    devices = [make_device(group=site) for _ in range(6)]
    silence = Silence.objects.create(group=site, reason="switchgear", ends_at=timezone.now() + timedelta(hours=1))
    for device in devices:
        offline(device)
    resolve_alert(devices[0], AlertType.DEVICE_OFFLINE, reason="status online")  # back before the end: not told
    notifications.sweep()
    assert receiver.requests == []

    Silence.objects.filter(pk=silence.pk).update(ends_at=timezone.now() - timedelta(seconds=1))  # ended early
    assert notifications.sweep()["released"] == 5
    (document,) = receiver.documents()
    assert receiver.requests[0]["signature_ok"] and document["digest"] and document["count"] == 5
    assert {item["event"] for item in document["notifications"]} == {"still_open"}
    assert {item["device"]["device_id"] for item in document["notifications"]} == {d.device_id for d in devices[1:]}
    silence.refresh_from_db()
    assert silence.released_at is not None
    notifications.sweep(now=timezone.now() + timedelta(seconds=5))  # past the digest window: nothing more
    assert len(receiver.requests) == 1


def test_an_alert_still_under_another_silence_waits_for_that_one_and_is_mailed_then(smtp_server):
    NotificationChannel.objects.create(name="ops mail", kind="email", to=["ops@example.com"], min_severity="info")
    device = make_device()
    short = Silence.objects.create(device=device, reason="short", ends_at=timezone.now() + timedelta(hours=1))
    offline(device)
    longer = Silence.objects.create(device=device, reason="longer", ends_at=timezone.now() + timedelta(hours=2))
    Silence.objects.filter(pk=short.pk).update(ends_at=timezone.now())
    notifications.sweep()
    assert smtp_server.messages == []
    assert Notice.objects.filter(event="still_open", status=NoticeStatus.SILENCED, silence=longer).count() == 1
    Silence.objects.filter(pk=longer.pk).update(ends_at=timezone.now())
    notifications.sweep()
    (message,) = smtp_server.messages
    assert f"Subject: Acuvim: [CRITICAL] still open after a silence: {device.device_id}" in message.content.decode()
