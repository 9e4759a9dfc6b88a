"""What the console keeps to revoke credentials: each user's token generation and websocket tickets."""

from django.conf import settings
from django.db import models


class CredentialGeneration(models.Model):
    """Bumped whenever a user's password changes or the user is deactivated.

    Every JWT carries the generation it was issued in (acuvim_console.operators.jwt); a token of an older generation is
    refused, so one bump revokes every access and refresh token issued before it, on every device.
    A user without a row is in generation 0.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="credential_generation"
    )
    number = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"user {self.user_id}: generation {self.number}"


class WebsocketTicket(models.Model):
    """A single-use, short-lived credential for opening one websocket (`?ticket=`); stored as a SHA-256."""

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"ticket for user {self.user_id} until {self.expires_at:%H:%M:%S}"
