"""Audit entries for user and role changes, wherever they are made: admin, API, manage.py or a shell.

Django has no "user changed" event of its own, so the user's audited fields are read before each save
and compared after it. Saves that touch none of them (the login's `last_login` update) cost nothing.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import record
from acuvim_console.operators.credentials import stored_fields

AUDITED_FIELDS = ("username", "email", "is_active", "is_staff", "is_superuser", "password")
_SECRET_FIELDS = {"password"}


def user_target(user) -> str:
    return f"user {user.get_username()}"


def _remember_audited_fields(sender, instance, update_fields=None, **kwargs):
    instance._audit_before = stored_fields(sender, instance, update_fields, AUDITED_FIELDS)


def _record_user_saved(sender, instance, created, **kwargs):
    if created:
        flags = {name: getattr(instance, name) for name in ("is_active", "is_staff", "is_superuser")}
        record(AuditAction.USER_CREATED, user_target(instance), detail=flags)
        return
    before = getattr(instance, "_audit_before", None)
    if not before:
        return
    changed = {name: before[name] for name in AUDITED_FIELDS if before[name] != getattr(instance, name)}
    if "password" in changed:
        record(AuditAction.USER_PASSWORD_CHANGED, user_target(instance))
    if changed.get("is_active") is True:
        record(AuditAction.USER_DEACTIVATED, user_target(instance))
    others = {
        name: [old, getattr(instance, name)]
        for name, old in changed.items()
        if name not in _SECRET_FIELDS and not (name == "is_active" and old is True)
    }
    if others:
        record(AuditAction.USER_CHANGED, user_target(instance), detail={"fields": others})


def _record_user_deleted(sender, instance, **kwargs):
    record(AuditAction.USER_DELETED, user_target(instance))


def _record_roles_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    users = get_user_model().objects.filter(pk__in=pk_set or ()) if reverse else [instance]
    for user in users:
        roles = sorted(user.groups.values_list("name", flat=True))
        record(AuditAction.USER_ROLE_CHANGED, user_target(user), detail={"change": action[5:], "roles": roles})


def _record_role_permissions_changed(sender, instance, action, reverse, pk_set, model, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear") or reverse:
        return
    names = sorted(
        f"{app}.{codename}"
        for app, codename in model.objects.filter(pk__in=pk_set or ()).values_list(
            "content_type__app_label", "codename"
        )
    )
    record(
        AuditAction.ROLE_PERMISSIONS_CHANGED,
        f"role {instance.name}",
        detail={"change": action[5:], "count": len(names), "permissions": names[:100]},
    )


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_remember_audited_fields, sender=user_model, dispatch_uid="audit.user_before")
    post_save.connect(_record_user_saved, sender=user_model, dispatch_uid="audit.user_saved")
    post_delete.connect(_record_user_deleted, sender=user_model, dispatch_uid="audit.user_deleted")
    m2m_changed.connect(_record_roles_changed, sender=user_model.groups.through, dispatch_uid="audit.user_roles")
    m2m_changed.connect(
        _record_role_permissions_changed, sender=Group.permissions.through, dispatch_uid="audit.role_permissions"
    )
