"""Firmware in the admin: upload images, deploy a version (with a dry run first), and steer rollouts."""

from functools import partial

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils.html import format_html

from acuvim_console.core.record_admin import RecordAdmin
from firmware import admin_views
from firmware.admin_forms import FirmwareUploadForm
from firmware.api.permissions import DEPLOY_FIRMWARE
from firmware.models import FirmwareVersion, OtaState, Rollout, RolloutDevice, RolloutStatus
from firmware.planning import ACTIVE_STATUSES
from firmware.removal import blocking_rollouts, delete_firmware
from firmware.rollouts import state_counts


@admin.register(FirmwareVersion)
class FirmwareVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "hardware", "file_size", "mandatory", "active", "uploaded_by", "created_at", "deploy")
    list_filter = ("active", "mandatory", "hardware")
    search_fields = ("version", "release_notes")
    change_form_template = "admin/firmware/firmwareversion/change_form.html"
    add_form = FirmwareUploadForm
    metadata_fields = (
        "version",
        "filename",
        "file_size",
        "sha256",
        "project_name",
        "chip",
        "idf_version",
        "uploaded_by",
        "created_at",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs.update(form=self.add_form, fields=None)  # the upload form's own fields, not the fieldsets'
            return partial(super().get_form(request, obj, change=change, **kwargs), user=request.user)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["file", "version", "release_notes", "hardware", "mandatory"]})]
        return [
            (None, {"fields": ["release_notes", "hardware", "mandatory", "active"]}),
            ("Image", {"fields": list(self.metadata_fields)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.metadata_fields if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        # On add, the upload service already stored the image and the record (FirmwareUploadForm.clean).

    def get_deleted_objects(self, objs, request):
        """Only rollouts still deploying a version protect it; finished ones are deleted along with it."""
        to_delete, counts, perms_needed, _ = super().get_deleted_objects(objs, request)
        perms_needed -= {Rollout._meta.verbose_name, RolloutDevice._meta.verbose_name}  # part of the version
        protected = [
            f"Rollout {rollout} ({rollout.status})"
            for firmware in objs
            for rollout in blocking_rollouts(firmware).select_related("firmware")
        ]
        return to_delete, counts, perms_needed, protected

    def delete_model(self, request, obj):
        delete_firmware(obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for firmware in queryset:
            delete_firmware(firmware, user=request.user)

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return shown if request.user.has_perm(DEPLOY_FIRMWARE) else [name for name in shown if name != "deploy"]

    @admin.display(description="Deploy")
    def deploy(self, obj):
        return format_html('<a href="{}">Deploy…</a>', reverse("admin:firmware_firmwareversion_deploy", args=[obj.pk]))

    def get_urls(self):
        deploy = self.admin_site.admin_view(partial(admin_views.deploy_view, self))
        return [path("<uuid:pk>/deploy/", deploy, name="firmware_firmwareversion_deploy"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"can_deploy": request.user.has_perm(DEPLOY_FIRMWARE), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)


@admin.register(Rollout)
class RolloutAdmin(RecordAdmin):
    """Rollouts are created by deploying a firmware version; their page shows waves and the controls, which are
    the only way to change a rollout's state."""

    list_display = ("__str__", "firmware", "status", "progress", "current_wave", "created_by", "created_at")
    list_filter = ("status",)
    list_select_related = ("firmware", "created_by")

    def has_delete_permission(self, request, obj=None):
        return bool(obj is None or obj.status not in ACTIVE_STATUSES) and super().has_delete_permission(request, obj)

    @admin.display(description="Succeeded")
    def progress(self, obj):
        counts = state_counts(obj)
        return f"{counts['succeeded']} / {sum(counts.values())}"

    def get_urls(self):
        view = self.admin_site.admin_view(partial(admin_views.rollout_action_view, self))
        actions = "|".join(admin_views.ROLLOUT_ACTIONS)
        pattern = rf"^(?P<pk>[0-9a-f-]{{36}})/(?P<action>{actions})/$"
        return [re_path(pattern, view, name="firmware_rollout_action"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        rollout = self.get_object(request, object_id)
        if rollout is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_permission(request, rollout):
            raise PermissionDenied
        counts = state_counts(rollout)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": rollout,
            "rollout": rollout,
            "title": str(rollout),
            "counts": counts,
            "can_act": request.user.has_perm(DEPLOY_FIRMWARE),
            "actions_allowed": _allowed_actions(rollout, counts),
            **admin_views.rollout_page_context(rollout),
        }
        return TemplateResponse(request, "admin/firmware/rollout/rollout_page.html", context)


def _allowed_actions(rollout: Rollout, counts: dict[str, int]) -> list[str]:
    """The buttons that make sense now (the services refuse the rest anyway)."""
    allowed = {
        RolloutStatus.SCHEDULED: ["pause", "cancel"],
        RolloutStatus.RUNNING: ["pause", "cancel", "retry"],
        RolloutStatus.PAUSED: ["resume", "cancel", "retry"],
        RolloutStatus.COMPLETED: ["retry"],
        RolloutStatus.CANCELLED: [],
    }[rollout.status]
    any_failed = any(counts[state] for state in (OtaState.FAILED, OtaState.ROLLED_BACK, OtaState.TIMED_OUT))
    return [action for action in allowed if action != "retry" or any_failed]
