"""JWTs that can be revoked: each carries its user's credential generation (acuvim_console.operators.credentials).

The login puts the generation into the refresh token; simplejwt copies it into every access token made
from it and into the rotated refresh token, so the whole family dies together when the user's
generation moves on. Tokens without the claim (from before this existed) count as generation 0.
"""

from django.contrib.auth import get_user_model
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from acuvim_console.operators.credentials import current_generation

GENERATION_CLAIM = "gen"
REVOKED_MESSAGE = "Token revoked: the password was changed or the account deactivated since it was issued."


class GenerationRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[GENERATION_CLAIM] = current_generation(user.pk)
        return token


def is_current(token) -> bool:
    """Whether a validated token was issued in its user's current generation."""
    return token.get(GENERATION_CLAIM, 0) == current_generation(token.get(api_settings.USER_ID_CLAIM))


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, refusing tokens of an older generation."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not is_current(validated_token):
            raise AuthenticationFailed(REVOKED_MESSAGE, code="token_revoked")
        return user


class RevocableRefreshSerializer(TokenRefreshSerializer):
    """Refuses to mint tokens from a refresh token of an older generation (or of a gone user)."""

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        user_id = refresh.get(api_settings.USER_ID_CLAIM)
        if not get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).exists():
            raise AuthenticationFailed(self.error_messages["no_active_account"], code="no_active_account")
        if not is_current(refresh):
            raise AuthenticationFailed(REVOKED_MESSAGE, code="token_revoked")
        return super().validate(attrs)


def user_for_access_token(raw_token: str):
    """The active user of a current access token, or None (websockets' `bearer.` subprotocol)."""
    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None
    user = (
        get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)}).first()
    )
    if user is None or not user.is_active or not is_current(token):
        return None
    return user
