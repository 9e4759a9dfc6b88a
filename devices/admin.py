"""Admin for the fleet: the field engineer's main screen."""

from django.contrib import admin, messages
from django.utils import timezone

from devices.choices import DeviceStatus
from devices.models import Command, CommandBatch, Device, DeviceConfig, DeviceStatusChange
from devices.status import change_status
from devices.tokens import issue_token

REPORTED_FIELDS = (
    "mac_address",
    "imei",
    "iccid",
    "hardware",
    "firmware_version",
    "capabilities",
    "meter",
    "status_changed_at",
    "registered_at",
    "approved_at",
    "last_heartbeat",
    "last_telemetry",
    "last_seen",
    "connection_type",
    "signal_strength",
    "ip_address",
    "boot_count",
    "reset_reason",
    "uptime_s",
    "heap_free",
    "heap_min",
    "sd_ok",
    "sd_queued",
    "sd_free_kb",
    "modbus_ok",
    "modbus_errors",
    "gsm_ok",
    "mqtt_reconnects",
    "ota_state",
    "ota_previous_version",
    "heartbeat_interval",
    "desired_config_hash",
    "applied_config_hash",
    "token_issued_at",
    "created_at",
    "updated_at",
)


class DeviceStatusChangeInline(admin.TabularInline):
    model = DeviceStatusChange
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("changed_at", "from_status", "to_status", "reason")
    readonly_fields = fields
    ordering = ("-changed_at",)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = (
        "device_id",
        "name",
        "status",
        "group",
        "firmware_version",
        "connection_type",
        "signal_strength",
        "last_seen",
    )
    list_filter = ("status", "group", "firmware_version", "connection_type", "hardware")
    search_fields = ("device_id", "name", "mac_address", "imei", "iccid")
    list_select_related = ("group",)
    readonly_fields = ("status", *REPORTED_FIELDS)
    fieldsets = (
        (None, {"fields": ("device_id", "name", "description", "group", "tags", "status")}),
        (
            "Inventory",
            {"fields": ("mac_address", "imei", "iccid", "hardware", "firmware_version", "capabilities", "meter")},
        ),
        (
            "Health",
            {
                "fields": (
                    "last_heartbeat",
                    "last_telemetry",
                    "last_seen",
                    "connection_type",
                    "signal_strength",
                    "ip_address",
                    "boot_count",
                    "reset_reason",
                    "uptime_s",
                    "heap_free",
                    "heap_min",
                    "sd_ok",
                    "sd_queued",
                    "sd_free_kb",
                    "modbus_ok",
                    "modbus_errors",
                    "gsm_ok",
                    "mqtt_reconnects",
                    "ota_state",
                    "ota_previous_version",
                    "heartbeat_interval",
                )
            },
        ),
        ("Configuration", {"fields": ("desired_config_hash", "applied_config_hash")}),
        (
            "Lifecycle",
            {
                "fields": (
                    "status_changed_at",
                    "registered_at",
                    "approved_at",
                    "token_issued_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    inlines = [DeviceStatusChangeInline]
    actions = ["approve_devices", "decommission_devices", "issue_tokens"]

    def get_readonly_fields(self, request, obj=None):
        # The id is the device's MAC: typed once when provisioning, never changed after.
        return (*self.readonly_fields, "device_id") if obj is not None else self.readonly_fields

    @admin.action(description="Approve selected pending devices", permissions=["approve"])
    def approve_devices(self, request, queryset):
        approved = 0
        for device in queryset.filter(status=DeviceStatus.PENDING):
            device.approved_at = timezone.now()
            device.save(update_fields=["approved_at", "updated_at"])
            approved += change_status(device, DeviceStatus.OFFLINE, reason=f"approved by {request.user}")
        self.message_user(request, f"{approved} device(s) approved; they go online with their next heartbeat.")

    @admin.action(description="Decommission selected devices", permissions=["approve"])
    def decommission_devices(self, request, queryset):
        changed = sum(
            change_status(device, DeviceStatus.DECOMMISSIONED, reason=f"decommissioned by {request.user}")
            for device in queryset
        )
        self.message_user(request, f"{changed} device(s) decommissioned; their data is no longer stored.")

    @admin.action(description="Issue a new device token (shown once)", permissions=["manage_token"])
    def issue_tokens(self, request, queryset):
        if queryset.count() > 20:
            self.message_user(request, "Issue tokens for at most 20 devices at a time.", messages.ERROR)
            return
        for device in queryset:
            token = issue_token(device)
            self.message_user(
                request,
                f"{device.device_id}: new device token {token} "
                "(copy it now: it is stored hashed and never shown again)",
                messages.WARNING,
            )

    def has_approve_permission(self, request):
        return request.user.has_perm("devices.approve_device")

    def has_manage_token_permission(self, request):
        return request.user.has_perm("devices.manage_token")


@admin.register(DeviceStatusChange)
class DeviceStatusChangeAdmin(admin.ModelAdmin):
    list_display = ("device", "from_status", "to_status", "reason", "changed_at")
    list_filter = ("to_status",)
    search_fields = ("device__device_id",)
    date_hierarchy = "changed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DeviceConfig)
class DeviceConfigAdmin(admin.ModelAdmin):
    list_display = ("device", "version", "config_hash", "created_by", "created_at", "applied_at")
    search_fields = ("device__device_id",)
    exclude = ("document",)
    readonly_fields = (
        "device",
        "version",
        "config_hash",
        "redacted_document",
        "created_by",
        "created_at",
        "applied_at",
    )

    @admin.display(description="Document (secrets hidden)")
    def redacted_document(self, obj):
        from devices.configs import canonical_json

        return canonical_json(obj.redacted())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Command)
class CommandAdmin(admin.ModelAdmin):
    list_display = ("command", "device", "status", "created_by", "created_at", "completed_at")
    list_filter = ("status", "command")
    search_fields = ("device__device_id", "request_id")
    list_select_related = ("device", "created_by")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Command._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CommandBatch)
class CommandBatchAdmin(admin.ModelAdmin):
    list_display = ("command", "group", "created_by", "created_at")
    readonly_fields = ("command", "params", "group", "created_by", "created_at")

    def has_add_permission(self, request):
        return False
