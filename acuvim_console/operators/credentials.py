"""Revoking a user's tokens when their password changes or they are deactivated.

Django's own sessions already end on both (the session hash covers the password, and inactive users
are not loaded), but JWTs are self-contained: without this, a stolen access token kept working for its
24 hours and a refresh token for 7 days after the password was changed. The change is noticed on the
user's save, wherever it is made (admin, API, `manage.py changepassword`), by comparing with the row
before it. Reactivating a user does not bring the old tokens back: they stay a generation behind.
"""

from django.contrib.auth import get_user_model
from django.db.models import F
from django.db.models.signals import post_save, pre_save

from acuvim_console.operators.models import CredentialGeneration, WebsocketTicket

_WATCHED = ("password", "is_active")


def current_generation(user_id) -> int:
    return CredentialGeneration.objects.filter(user_id=user_id).values_list("number", flat=True).first() or 0


def revoke_tokens(user) -> int:
    """Move the user to the next generation (refusing every token issued so far); return its number."""
    CredentialGeneration.objects.get_or_create(user=user)
    CredentialGeneration.objects.filter(user=user).update(number=F("number") + 1)
    WebsocketTicket.objects.filter(user=user).delete()
    return current_generation(user.pk)


def stored_fields(sender, instance, update_fields, fields: tuple[str, ...]) -> dict | None:
    """For a pre_save handler: `fields` as the database holds them before this save, or None when the
    row is new or the save writes none of them (the login's `last_login` update costs no query)."""
    if instance.pk is None or (update_fields is not None and not set(update_fields) & set(fields)):
        return None
    return sender.objects.filter(pk=instance.pk).values(*fields).first()


def _remember_credentials(sender, instance, update_fields=None, **kwargs):
    instance._credentials_before = stored_fields(sender, instance, update_fields, _WATCHED)


def _revoke_when_credentials_change(sender, instance, created, **kwargs):
    before = getattr(instance, "_credentials_before", None)
    if created or before is None:
        return
    if before["password"] != instance.password or (before["is_active"] and not instance.is_active):
        revoke_tokens(instance)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_remember_credentials, sender=user_model, dispatch_uid="access.credentials_before")
    post_save.connect(_revoke_when_credentials_change, sender=user_model, dispatch_uid="access.revoke_tokens")
