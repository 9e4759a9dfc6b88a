"""Who is on the other end of a websocket: the admin's session user, or an API client's JWT.

Browsers bring the Django session cookie (AuthMiddlewareStack already put that user into the scope).
API clients bring the same access token they use for the REST API, either as `?token=<jwt>` or as the
subprotocol `bearer.<jwt>` (browsers cannot set an Authorization header on a websocket). A token that
is present but invalid is an error of its own, so the consumer can tell the client why it is refused.
"""

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

log = logging.getLogger(__name__)

BEARER_PREFIX = "bearer."


def token_from_scope(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if query.get("token"):
        return query["token"][0]
    for protocol in scope.get("subprotocols", []):
        if protocol.startswith(BEARER_PREFIX):
            return protocol[len(BEARER_PREFIX) :]
    return None


@database_sync_to_async
def user_for_token(raw_token: str):
    """The active user an access token names, or None when it is expired, forged or for a gone user."""
    try:
        token = AccessToken(raw_token)
    except TokenError as exc:
        log.info("websocket token refused: %s", exc)
        return None
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}, is_active=True).first()
    return user


class JwtAuthMiddleware:
    """Replaces the scope's user with the token's user when a token is given; flags a bad token."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw_token = token_from_scope(scope)
        if raw_token is not None:
            scope = dict(scope)
            user = await user_for_token(raw_token)
            scope["user"] = user or AnonymousUser()
            scope["auth_error"] = None if user else "invalid_token"
        return await self.app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuses cross-site pages (a browser always sends Origin) but lets non-browser API clients in.

    A missing Origin cannot come from a web page, so it cannot be a cross-site websocket hijack; such
    clients must still authenticate with a token or a session.
    """

    def __init__(self, application):
        super().__init__(application, settings.ALLOWED_HOSTS)

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or self.validate_origin(parsed_origin)
