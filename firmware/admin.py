from django.contrib import admin

from firmware.models import FirmwareVersion, Rollout, RolloutDevice


@admin.register(FirmwareVersion)
class FirmwareVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "hardware", "file_size", "mandatory", "active", "uploaded_by", "created_at")
    list_filter = ("active", "mandatory", "hardware")
    search_fields = ("version", "release_notes")
    readonly_fields = (
        "filename",
        "file_size",
        "sha256",
        "project_name",
        "chip",
        "idf_version",
        "uploaded_by",
        "created_at",
    )


class RolloutDeviceInline(admin.TabularInline):
    model = RolloutDevice
    extra = 0
    can_delete = False
    fields = ("device", "wave", "state", "progress", "from_version", "reason", "updated_at")
    readonly_fields = fields


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    list_display = ("__str__", "firmware", "status", "current_wave", "created_by", "created_at")
    list_filter = ("status",)
    inlines = [RolloutDeviceInline]
