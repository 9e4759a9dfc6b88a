"""Who is on the other end of a websocket: the admin's session user, or an API client with a ticket.

Browsers bring the Django session cookie (AuthMiddlewareStack already put that user into the scope).
API clients first ask `POST /api/auth/ws-ticket` for a single-use ticket valid 30 s (acuvim_console.operators.tickets)
and connect with `?ticket=<ticket>`, or send their access token as the subprotocol `bearer.<jwt>`
(a header, so it never lands in an access log). A JWT in the URL (`?token=`) is refused outright: URLs
are logged by every proxy on the way. A credential that is present but bad is an error of its own, so
the consumer can tell the client why it is refused.
"""

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from acuvim_console.operators.jwt import user_for_access_token
from acuvim_console.operators.tickets import redeem_ticket

log = logging.getLogger(__name__)

BEARER_PREFIX = "bearer."


class AuthError:
    """Why a websocket's credential was refused (`scope["auth_error"]`), as the close reason says it."""

    INVALID_TICKET = "invalid or used ticket"
    INVALID_TOKEN = "invalid token"  # noqa: S105 (a message, not a secret)
    TOKEN_IN_URL = "a JWT in the URL is refused: use ?ticket= from POST /api/auth/ws-ticket"  # noqa: S105


def _bearer_token(scope) -> str | None:
    for protocol in scope.get("subprotocols", []):
        if protocol.startswith(BEARER_PREFIX):
            return protocol[len(BEARER_PREFIX) :]
    return None


@database_sync_to_async
def _authenticate(query: dict, bearer: str | None):
    """(user, error) for the credential given; (None, None) when there is none (the session decides)."""
    if query.get("token"):
        return None, AuthError.TOKEN_IN_URL
    if query.get("ticket"):
        user = redeem_ticket(query["ticket"][0])
        return user, None if user else AuthError.INVALID_TICKET
    if bearer is not None:
        user = user_for_access_token(bearer)
        return user, None if user else AuthError.INVALID_TOKEN
    return None, None


class CredentialAuthMiddleware:
    """Replaces the scope's user with the ticket's or token's user when one is given; flags a bad one."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        bearer = _bearer_token(scope)
        if query.get("token") or query.get("ticket") or bearer is not None:
            user, error = await _authenticate(query, bearer)
            if error:
                log.info("websocket %s refused: %s", scope.get("path"), error)
            scope = {**scope, "user": user or AnonymousUser(), "auth_error": error}
        return await self.app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuses cross-site pages (a browser always sends Origin) but lets non-browser API clients in.

    A missing Origin cannot come from a web page, so it cannot be a cross-site websocket hijack; such
    clients must still authenticate with a ticket, a token or a session.
    """

    def __init__(self, application):
        super().__init__(application, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or self.validate_origin(parsed_origin)
