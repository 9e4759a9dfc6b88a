"""Telling people: routing alert events to channels, storm control, and delivering email and webhooks.

Three steps, each its own transaction, so nothing here can hold up the code that changed the alert:

1. `announce` (inside the alert's own transaction) writes one Notice per channel that wants the event:
   severity at least the channel's minimum, device in its scope, type among its kinds. An active
   silence covering the alert records the notice as silenced instead: the alert stays open, nobody is
   told. After the commit a flush of those channels is requested (a Celery task; in embedded mode the
   periodic pass of alerts.tasks picks them up within NOTIFY_SWEEP_SECONDS, so the bridge never sends).
2. `flush_channel` (under a row lock on the channel) turns queued notices into Deliveries. The first
   NOTIFY_DIGEST_AFTER messages of a window go out one by one; beyond them the channel gets at most one
   message per NOTIFY_DIGEST_WINDOW_S, a digest naming every alert it covers (up to
   NOTIFY_DIGEST_MAX_LISTED, then a count and a link). A channel's hourly cap holds the rest for the
   next digest. Resolves travel the same way.
3. `send_delivery` claims a delivery (conditional update, so two workers never send it twice), renders
   and sends it; a failure is retried with exponential backoff up to NOTIFY_RETRY_MAX attempts, and the
   delivery log in the admin says what happened.

When a silence ends, `release_silences` (part of the notification pass) tells each channel once of the
alerts it held back that are still open: one `still_open` notice per alert and channel, queued together
so that storm control turns a site's worth of them into one digest.
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import (
    Alert,
    ChannelKind,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeEvent,
    NoticeStatus,
    NotificationChannel,
    Silence,
    WebhookFormat,
)
from alerts.serializers import AlertSerializer
from devices.models import Device

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Acuvim-Signature"
TIMESTAMP_HEADER = "X-Acuvim-Timestamp"
DELIVERY_HEADER = "X-Acuvim-Delivery"
_ERROR_CHARS = 500  # of a receiver's answer kept in the delivery log


# --- 1. routing ---------------------------------------------------------------------------------


def announce(alerts: Iterable[Alert], event: str) -> int:
    """Queue `event` of these alerts for every channel that wants it; return how many notices were queued.

    `alerts` may be a queryset: it is only read when some channel is enabled.
    """
    channels = list(NotificationChannel.objects.filter(enabled=True))
    if not channels:
        return 0
    alerts = list(alerts)
    if not alerts:
        return 0
    _load_groups(alerts)
    now = timezone.now()
    silences = list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))
    notices = []
    for alert in alerts:
        silence = next((s for s in silences if s.covers(alert)), None)
        for channel in channels:
            if channel.wants(alert, alert.severity):
                status = NoticeStatus.SILENCED if silence else NoticeStatus.QUEUED
                notices.append(
                    Notice(
                        channel=channel,
                        alert=alert,
                        event=event,
                        severity=alert.severity,
                        status=status,
                        silence=silence,
                        created_at=now,
                    )
                )
    Notice.objects.bulk_create(notices)
    waiting = {notice.channel_id for notice in notices if notice.status == NoticeStatus.QUEUED}
    if waiting:
        transaction.on_commit(lambda: request_flush(waiting))
    return sum(notice.status == NoticeStatus.QUEUED for notice in notices)


def _load_groups(alerts: list[Alert]) -> None:
    """Callers often pass Device(pk, device_id) stand-ins; scope and silences need the device's group."""
    groups = dict(Device.objects.filter(pk__in={a.device_id for a in alerts}).values_list("pk", "group_id"))
    for alert in alerts:
        alert.device.group_id = groups.get(alert.device_id)


def request_flush(channel_ids) -> None:
    """With a Celery worker, flush now; in embedded mode (tasks run inline) leave it to the periodic pass."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    _enqueue(flush_channel_task, [((channel_id,), 0) for channel_id in channel_ids])


def _enqueue(task, calls: list[tuple[tuple, float]]) -> None:
    """Queue Celery calls; with the broker away, say so and leave them to the notification pass.

    The caller may be the bridge's telemetry writer: a broker outage must cost it a log line, not ingest.
    """
    try:
        for args, countdown in calls:
            task.apply_async(args, countdown=countdown)
    except Exception:
        log.exception("could not queue %s; the notification pass will pick the work up", task.name)


def release_silences(now=None) -> int:
    """For every silence that has ended: tell the channels of its held-back alerts that are still open.

    Once per silence: the pass that marks it released (a conditional update) is the one that announces,
    inside the same transaction. An alert covered by another silence that is still active is recorded
    as silenced by that one and waits for its end. Alerts resolved meanwhile are not mentioned: their
    whole story happened while nobody wanted to hear it. Returns the notices queued.
    """
    now = now or timezone.now()
    queued = 0
    ended = Silence.objects.filter(released_at__isnull=True, ends_at__lte=now).values_list("pk", flat=True)
    for silence_id in list(ended):
        with transaction.atomic():
            if not Silence.objects.filter(pk=silence_id, released_at__isnull=True).update(released_at=now):
                continue  # another pass released it first
            held = Alert.objects.filter(
                resolved_at__isnull=True,
                notices__silence_id=silence_id,
                notices__status=NoticeStatus.SILENCED,
                notices__event__in=[NoticeEvent.OPENED, NoticeEvent.ESCALATED, NoticeEvent.STILL_OPEN],
            ).distinct()
            queued += announce(held.select_related("device", "rule"), NoticeEvent.STILL_OPEN)
    return queued


# --- 2. storm control ---------------------------------------------------------------------------


def flush_channel(channel_id: int, now=None) -> list[int]:
    """Turn the channel's queued notices into deliveries as storm control allows; return their ids."""
    now = now or timezone.now()
    with transaction.atomic():
        channel = NotificationChannel.objects.select_for_update().filter(pk=channel_id, enabled=True).first()
        if channel is None:
            return []
        queued = list(channel.notices.filter(status=NoticeStatus.QUEUED).order_by("created_at", "id"))
        if not queued:
            return []
        window = timedelta(seconds=settings.NOTIFY_DIGEST_WINDOW_S)
        if channel.deliveries.filter(created_at__gt=now - timedelta(hours=1)).count() >= channel.hourly_cap:
            return []  # held: the next delivery the cap allows is a digest of them all
        if _in_storm(channel, now, window):
            return []  # the flush after the window sends one digest of everything queued by then
        free = settings.NOTIFY_DIGEST_AFTER - channel.deliveries.filter(created_at__gt=now - window).count()
        groups = [[notice] for notice in queued] if len(queued) <= free else [queued]
        ids = [_assign(channel, notices, now) for notices in groups]
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: _request_sends(ids))
    return ids


def _in_storm(channel: NotificationChannel, now, window: timedelta) -> bool:
    """Within a window of the last delivery, when that window has had its first few or was a digest already.

    A storm ends when a whole window passes without a delivery; then single messages resume.
    """
    last = channel.deliveries.order_by("-created_at", "-id").first()
    if last is None or last.created_at <= now - window:
        return False
    return last.digest or channel.deliveries.filter(created_at__gt=now - window).count() >= settings.NOTIFY_DIGEST_AFTER


def _assign(channel: NotificationChannel, notices: list[Notice], now) -> int:
    delivery = Delivery.objects.create(
        channel=channel, digest=len(notices) > 1, notice_count=len(notices), created_at=now, next_attempt_at=now
    )
    Notice.objects.filter(pk__in=[n.pk for n in notices]).update(status=NoticeStatus.ASSIGNED, delivery=delivery)
    return delivery.pk


def _request_sends(delivery_ids: list[int], countdown: float = 0) -> None:
    _enqueue(send_delivery_task, [((delivery_id,), countdown) for delivery_id in delivery_ids])


# --- 3. delivery --------------------------------------------------------------------------------


def send_delivery(delivery_id: int, now=None) -> str | None:
    """Claim, render and send one delivery; return its new status (None: not due or someone else has it)."""
    now = now or timezone.now()
    claimable = Delivery.objects.filter(
        pk=delivery_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now
    )
    if not claimable.update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1):
        return None
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    try:
        _send(delivery)
    except Exception as exc:  # any failure of the far end or of rendering goes into the log, not up
        return _failed(delivery, exc)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="")
    log.info("notification %s to %s sent (%d alert(s))", delivery.pk, delivery.channel, delivery.notice_count)
    return DeliveryStatus.SENT


def _failed(delivery: Delivery, exc: Exception) -> str:
    reason = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
    if delivery.attempts >= settings.NOTIFY_RETRY_MAX:
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, last_error=reason)
        log.error(
            "notification %s to %s failed for good after %d attempts: %s",
            delivery.pk,
            delivery.channel,
            delivery.attempts,
            reason,
        )
        return DeliveryStatus.FAILED
    backoff = settings.NOTIFY_RETRY_BASE_S * 2 ** (delivery.attempts - 1)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.RETRYING, last_error=reason, next_attempt_at=timezone.now() + timedelta(seconds=backoff)
    )
    log.warning(
        "notification %s to %s failed (attempt %d), retry in %g s: %s",
        delivery.pk,
        delivery.channel,
        delivery.attempts,
        backoff,
        reason,
    )
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        _request_sends([delivery.pk], countdown=backoff)
    return DeliveryStatus.RETRYING


def sweep(now=None) -> dict:
    """The periodic pass: flush every channel with queued notices, send what is due, reclaim stuck sends."""
    now = now or timezone.now()
    released = release_silences(now)
    stuck = now - timedelta(seconds=settings.NOTIFY_SEND_TIMEOUT_S * 2)
    Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stuck).update(
        status=DeliveryStatus.RETRYING, next_attempt_at=now, last_error="sender lost while sending"
    )
    channels = set(Notice.objects.filter(status=NoticeStatus.QUEUED).values_list("channel_id", flat=True))
    for channel_id in channels:
        flush_channel(channel_id, now)
    due = Delivery.objects.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now
    ).values_list("pk", flat=True)
    results = [send_delivery(pk, now) for pk in list(due)]
    return {
        "released": released,
        "channels": len(channels),
        "sent": results.count(DeliveryStatus.SENT),
        "attempted": len(results),
    }


def _send(delivery: Delivery) -> None:
    notices = list(
        delivery.notices.select_related("alert", "alert__device", "alert__device__group", "alert__rule").order_by(
            "created_at", "id"
        )
    )
    channel = delivery.channel
    if channel.kind == ChannelKind.EMAIL:
        subject, text = render_text(notices, delivery)
        # A device's own alert message ends up here: no line break may reach the header.
        EmailMessage(" ".join(subject.split()), text, to=channel.to).send()
    else:
        timestamp = int(time.time())
        post_webhook(channel, render_webhook_body(channel, notices, delivery, timestamp), delivery.pk, timestamp)


# --- rendering ----------------------------------------------------------------------------------


def alert_document(notice: Notice) -> dict:
    """One notice as a webhook carries it: the event, the alert (API shape) and its device."""
    device = notice.alert.device
    return {
        "event": notice.event,
        "alert": AlertSerializer(notice.alert).data,
        "device": {
            "device_id": device.device_id,
            "name": device.name,
            "group": device.group.name if device.group_id else None,
            "status": device.status,
        },
    }


_EVENT_WORDS = {NoticeEvent.STILL_OPEN: "still open after a silence"}


def _summary_line(notice: Notice) -> str:
    alert = notice.alert
    event = _EVENT_WORDS.get(notice.event, notice.event)
    return f"[{notice.severity.upper()}] {event}: {alert.device.device_id} {alert.message}"


def _inbox_link() -> str:
    return f"{settings.CONSOLE_BASE_URL.rstrip('/')}/admin/alerts/alert/?state=open"


def render_text(notices: list[Notice], delivery: Delivery) -> tuple[str, str]:
    """Subject and plain text of a delivery: one alert, or a digest listing up to NOTIFY_DIGEST_MAX_LISTED."""
    if len(notices) == 1:
        line = _summary_line(notices[0])
        return f"Acuvim: {line}"[:200], f"{line}\n\n{_inbox_link()}\n"
    counts = {}
    for notice in notices:
        counts[notice.event] = counts.get(notice.event, 0) + 1
    tally = ", ".join(f"{count} {event}" for event, count in counts.items())
    listed = settings.NOTIFY_DIGEST_MAX_LISTED
    lines = [_summary_line(notice) for notice in notices[:listed]]
    if len(notices) > listed:
        lines.append(f"... and {len(notices) - listed} more")
    body = "\n".join(lines)
    return (
        f"Acuvim digest: {len(notices)} alert notifications ({tally})",
        f"{body}\n\nAll open alerts: {_inbox_link()}\n",
    )


def render_webhook_body(
    channel: NotificationChannel, notices: list[Notice], delivery: Delivery, timestamp: int
) -> bytes:
    """JSON with the alerts and devices, or {"text": ...} that Slack and Teams incoming webhooks accept.

    The JSON carries the timestamp header's value too, so it is covered by the signature: a receiver
    refuses a replay by its age without trusting an unsigned header.
    """
    if channel.body_format == WebhookFormat.TEXT:
        subject, text = render_text(notices, delivery)
        return json.dumps({"text": f"{subject}\n{text}" if len(notices) > 1 else text}).encode()
    listed = settings.NOTIFY_DIGEST_MAX_LISTED
    document = {
        "timestamp": timestamp,
        "delivery": delivery.pk,
        "channel": channel.name,
        "digest": len(notices) > 1,
        "count": len(notices),
        "notifications": [alert_document(notice) for notice in notices[:listed]],
        "more": max(0, len(notices) - listed),
        "link": _inbox_link(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the raw body with the channel's secret (what receivers recompute)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(channel: NotificationChannel, body: bytes, delivery_id: int, timestamp: int) -> None:
    """POST the body; anything but a 2xx answer within NOTIFY_SEND_TIMEOUT_S is a failure."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "acuvim-console",
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: str(delivery_id),
    }
    if channel.secret:
        headers[SIGNATURE_HEADER] = sign(channel.secret, body)
    request = urllib.request.Request(channel.url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=settings.NOTIFY_SEND_TIMEOUT_S) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"HTTP {exc.code} from {channel.url}: {exc.read(200).decode(errors='replace')}") from None


# --- tasks (names kept from alerts.tasks, so queued calls survive an upgrade) ------------------------


@shared_task(name="alerts.tasks.flush_channel", ignore_result=True)
def flush_channel_task(channel_id: int) -> list[int]:
    return flush_channel(channel_id)


@shared_task(name="alerts.tasks.send_delivery", ignore_result=True)
def send_delivery_task(delivery_id: int) -> str | None:
    return send_delivery(delivery_id)
