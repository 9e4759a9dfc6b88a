"""Websocket tickets: how a client opens a websocket without putting a long-lived credential in the URL.

URLs end up in access logs, proxy logs and browser history, so a JWT in `?token=` leaked a credential
good for a day. A ticket is asked for with the JWT (or the session) over `POST /api/auth/ws-ticket`,
works once and only for TICKET_SECONDS; only its SHA-256 is stored, and using it deletes it.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from acuvim_console.operators.models import WebsocketTicket

TICKET_SECONDS = 30


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


def issue_ticket(user) -> str:
    now = timezone.now()
    WebsocketTicket.objects.filter(expires_at__lte=now).delete()  # the table holds only live tickets
    ticket = secrets.token_urlsafe(32)
    WebsocketTicket.objects.create(
        digest=_digest(ticket), user=user, expires_at=now + timedelta(seconds=TICKET_SECONDS)
    )
    return ticket


@transaction.atomic
def redeem_ticket(ticket: str):
    """The active user a live ticket was issued to, or None; the ticket is used up either way."""
    if not ticket or len(ticket) > 128:
        return None
    row = WebsocketTicket.objects.select_for_update().select_related("user").filter(digest=_digest(ticket)).first()
    if row is None:
        return None
    row.delete()
    if row.expires_at <= timezone.now() or not row.user.is_active:
        return None
    return row.user
