"""User accounts with a role: used by commissioning (first admin) and the API's register endpoint."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from acuvim_console.operators.roles import ADMIN


@transaction.atomic
def create_user_with_role(username: str, password: str, role: str, email: str = ""):
    """Staff user in exactly one role group; Admins are also superusers so they can manage everything."""
    user = get_user_model().objects.create_user(
        username=username, password=password, email=email, is_staff=True, is_superuser=(role == ADMIN)
    )
    user.groups.set([Group.objects.get(name=role)])
    return user


def ensure_first_admin(username: str, password: str | None) -> str | None:
    """Create the first Admin when no superuser exists; return the password if one was generated."""
    if get_user_model().objects.filter(is_superuser=True).exists():
        return None
    generated = None if password else secrets.token_urlsafe(12)
    create_user_with_role(username, password or generated, ADMIN)
    return generated
