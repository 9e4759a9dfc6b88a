"""Admin for the fleet: the field engineer's main screen, kept live by the fleet and device websockets.

The list shows live status badges and relative "last seen" times (static/acuvim/live.js); the device
page is the cockpit (templates/admin/devices/device/change_form.html, devices/cockpit/views.py).
"""

from django.contrib import admin, messages
from django.db import transaction
from django.urls import path
from django.utils.html import format_html

from acuvim_console.core.broker_accounts import BrokerAdminError
from acuvim_console.core.record_admin import RecordAdmin
from acuvim_console.protocol.config import canonical_json, redact_secrets
from acuvim_console.protocol.reasons import RejectReason
from devices.admin import actions
from devices.admin.filters import ConfigDriftFilter, DeviceIdFilter
from devices.choices import UNACCEPTED_STATUSES, DeviceStatus
from devices.cockpit import views
from devices.models import Command, CommandBatch, Device, DeviceConfig, DeviceStatusChange, RejectedMessage
from devices.registry.mqtt_credentials import disable_mqtt_client, issue_mqtt_credentials
from devices.registry.status import approve_device, decommission_device
from devices.registry.tokens import issue_token

# What the device reports and the console records, grouped as the device page shows it: read-only in the admin.
INVENTORY_FIELDS = ("mac_address", "imei", "iccid", "hardware", "firmware_version", "capabilities", "meter")
HEALTH_FIELDS = (
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
CONFIGURATION_FIELDS = ("desired_config_hash", "applied_config_hash")
LIFECYCLE_FIELDS = (
    "status_changed_at",
    "registered_at",
    "approved_at",
    "token_issued_at",
    "created_at",
    "updated_at",
)
REPORTED_FIELDS = (*INVENTORY_FIELDS, *HEALTH_FIELDS, *CONFIGURATION_FIELDS, *LIFECYCLE_FIELDS)


def status_badge(device_id: str, status: str, label: str):
    """A badge live.js recolours when DeviceStatusChanged arrives for this device."""
    return format_html(
        '<span class="acv-badge acv-badge--{}" data-device-status="{}">{}</span>', status, device_id, label
    )


def last_seen_time(value, device_id: str):
    """A <time> live.js rewrites as "12 s ago" every few seconds and resets when the device speaks."""
    if value is None:
        return format_html('<time class="acv-time" data-device-last-seen="{}">never</time>', device_id)
    return format_html(
        '<time class="acv-time" datetime="{}" data-relative data-device-last-seen="{}" title="{}">{}</time>',
        value.isoformat(),
        device_id,
        value.strftime("%Y-%m-%d %H:%M:%S UTC"),
        value.strftime("%Y-%m-%d %H:%M"),
    )


def signal_bars(rssi: int | None) -> int:
    """0-4 bars from RSSI in dBm, as a phone shows them."""
    if rssi is None:
        return 0
    return sum(rssi >= limit for limit in (-100, -85, -75, -65))


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = (
        "device_id",
        "name",
        "live_status",
        "group",
        "firmware_version",
        "connection",
        "last_seen_ago",
        "drift",
    )
    list_filter = ("status", "group", "firmware_version", "connection_type", "hardware", ConfigDriftFilter)
    change_list_template = "admin/devices/device/change_list.html"
    change_form_template = "admin/devices/device/change_form.html"
    search_fields = ("device_id", "name", "mac_address", "imei", "iccid")
    list_select_related = ("group",)
    readonly_fields = ("status", *REPORTED_FIELDS)
    fieldsets = (
        (None, {"fields": ("device_id", "name", "description", "group", "tags", "status")}),
        ("Inventory", {"fields": INVENTORY_FIELDS}),
        ("Health", {"fields": HEALTH_FIELDS}),
        ("Configuration", {"fields": CONFIGURATION_FIELDS}),
        ("Lifecycle", {"fields": LIFECYCLE_FIELDS}),
    )
    actions = [
        "send_command",
        "add_to_group",
        "deploy_firmware",
        "approve_devices",
        "decommission_devices",
        "issue_tokens",
        "rotate_mqtt_credentials",
    ]

    @admin.display(description="Status", ordering="status")
    def live_status(self, obj):
        return status_badge(obj.device_id, obj.status, obj.get_status_display())

    @admin.display(description="Connection", ordering="connection_type")
    def connection(self, obj):
        if not obj.connection_type:
            return "-"
        bars = signal_bars(obj.signal_strength)
        rssi = f"{obj.signal_strength} dBm" if obj.signal_strength is not None else "no RSSI"
        return format_html(
            '{} <span class="acv-signal acv-signal--{}" title="{}" data-device-signal="{}"></span>',
            obj.get_connection_type_display(),
            bars,
            rssi,
            obj.device_id,
        )

    @admin.display(description="Last seen", ordering="last_seen")
    def last_seen_ago(self, obj):
        return last_seen_time(obj.last_seen, obj.device_id)

    @admin.display(description="Config", boolean=True)
    def drift(self, obj):
        return None if not obj.desired_config_hash else not obj.config_drift

    def get_urls(self):
        cockpit = [
            ("live/telemetry/", views.telemetry_history, "telemetry"),
            ("live/command/", views.send_device_command, "command"),
            ("live/config/", views.push_device_config, "config"),
        ]
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(f"<uuid:pk>/{route}", self.admin_site.admin_view(view), name=f"{prefix}_{name}")
            for route, view, name in cockpit
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        device = self.get_object(request, object_id)
        if device is not None and self.has_view_permission(request, device):
            extra_context = {**(extra_context or {}), **views.cockpit_context(request, device)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Send a command to selected devices", permissions=["send_command"])
    def send_command(self, request, queryset):
        return actions.send_command_to_selection(self, request, queryset)

    @admin.action(description="Add selected devices to a group", permissions=["change"])
    def add_to_group(self, request, queryset):
        return actions.add_selection_to_group(self, request, queryset)

    @admin.action(description="Deploy firmware to selected devices", permissions=["deploy_firmware"])
    def deploy_firmware(self, request, queryset):
        if actions.too_many(self, request, queryset):
            return None
        return actions.deploy_to_selection(
            self,
            request,
            queryset,
            action="deploy_firmware",
            target_query=lambda devices: {"devices": ",".join(devices.values_list("device_id", flat=True))},
        )

    def get_readonly_fields(self, request, obj=None):
        # The id is the device's MAC: typed once when provisioning, never changed after.
        return (*self.readonly_fields, "device_id") if obj is not None else self.readonly_fields

    @admin.action(description="Approve selected pending devices", permissions=["approve"])
    def approve_devices(self, request, queryset):
        """Approve each pending device with its MQTT credentials (when the console manages the broker),
        one device per transaction: one the broker refuses stays pending, the others are approved."""
        issued, refused = [], []
        for device in queryset.filter(status=DeviceStatus.PENDING):
            try:
                with transaction.atomic():
                    if approve_device(device, user=request.user):
                        issued.append((device, issue_mqtt_credentials(device, user=request.user)))
            except BrokerAdminError as exc:
                refused.append(f"{device.device_id}: {exc}")
        if refused:
            self.message_user(request, f"Not approved, the broker refused: {'; '.join(refused)}", messages.ERROR)
        note = f"{len(issued)} device(s) approved; they go online with their next heartbeat."
        with_credentials = [(device, credentials) for device, credentials in issued if credentials is not None]
        if with_credentials:
            return actions.issued_mqtt_credentials_page(self, request, with_credentials, note=note)
        self.message_user(request, note)
        return None

    @admin.action(description="Decommission selected devices", permissions=["approve"])
    def decommission_devices(self, request, queryset):
        changed, refused = 0, []
        for device in queryset:
            try:
                changed += decommission_device(device, user=request.user)
            except BrokerAdminError as exc:
                refused.append(f"{device.device_id}: {exc}")
        if refused:
            self.message_user(request, f"Not decommissioned, the broker refused: {'; '.join(refused)}", messages.ERROR)
        self.message_user(request, f"{changed} device(s) decommissioned; their data is no longer stored.")

    @admin.action(description="Issue a new device token (shown once)", permissions=["manage_token"])
    def issue_tokens(self, request, queryset):
        if queryset.count() > 20:
            self.message_user(request, "Issue tokens for at most 20 devices at a time.", messages.ERROR)
            return None
        return actions.issued_tokens_page(self, request, [(device, issue_token(device)) for device in queryset])

    @admin.action(description="Rotate MQTT credentials (shown once)", permissions=["manage_token"])
    def rotate_mqtt_credentials(self, request, queryset):
        """A new broker password for each selected accepted device; the old one is refused from now on."""
        if queryset.count() > 20:
            self.message_user(request, "Rotate MQTT credentials for at most 20 devices at a time.", messages.ERROR)
            return None
        issued = []
        try:
            for device in queryset.exclude(status__in=UNACCEPTED_STATUSES):
                with transaction.atomic():
                    issued.append((device, issue_mqtt_credentials(device, user=request.user)))
        except BrokerAdminError as exc:
            self.message_user(request, f"The broker refused: {exc}", messages.ERROR)
        if any(credentials is None for _, credentials in issued):
            self.message_user(
                request, "The console does not manage the broker's accounts (MQTT_BROKER_ADMIN=none).", messages.ERROR
            )
            return None
        if not issued:
            self.message_user(request, "Only approved devices have MQTT credentials.", messages.WARNING)
            return None
        return actions.issued_mqtt_credentials_page(self, request, issued)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._disable_broker_clients(request, [obj])

    def delete_queryset(self, request, queryset):
        devices = list(queryset)
        super().delete_queryset(request, queryset)
        self._disable_broker_clients(request, devices)

    def _disable_broker_clients(self, request, devices) -> None:
        """A deleted device's broker account is disabled as a decommissioned one's is: otherwise its gateway
        could still log in and speak on its topics. The deletion stands if the broker refuses; the page says
        which accounts are left for the broker's administrator."""
        left = []
        for device in devices:
            try:
                disable_mqtt_client(device)
            except BrokerAdminError as exc:
                left.append(f"{device.device_id} ({exc})")
        if left:
            self.message_user(
                request, f"Deleted, but the broker still accepts these clients: {'; '.join(left)}", messages.ERROR
            )

    def has_approve_permission(self, request):
        return request.user.has_perm("devices.approve_device")

    def has_manage_token_permission(self, request):
        return request.user.has_perm("devices.manage_token")

    def has_send_command_permission(self, request):
        return request.user.has_perm("devices.send_command")

    def has_deploy_firmware_permission(self, request):
        return request.user.has_perm("firmware.deploy_firmware")


@admin.register(DeviceStatusChange)
class DeviceStatusChangeAdmin(RecordAdmin):
    list_display = ("device", "from_status", "to_status", "reason", "changed_at")
    list_filter = ("to_status", DeviceIdFilter)
    search_fields = ("device__device_id",)
    date_hierarchy = "changed_at"


@admin.register(RejectedMessage)
class RejectedMessageAdmin(RecordAdmin):
    """Why a gateway's data is refused: per device, topic kind and reason, with counts (docs/troubleshooting.md)."""

    list_display = ("device_id", "kind", "reason_label", "count", "detail", "last_seen", "first_seen")
    list_filter = ("reason", "kind")
    search_fields = ("device_id", "detail")
    date_hierarchy = "last_seen"
    readonly_fields = (
        "device_id",
        "kind",
        "reason",
        "count",
        "first_seen",
        "last_seen",
        "topic",
        "detail",
        "sample",
    )

    @admin.display(description="reason", ordering="reason")
    def reason_label(self, obj):
        label = RejectReason(obj.reason).label if obj.reason in RejectReason.values else obj.reason
        return format_html('<span title="{}">{}</span>', label, obj.reason)


@admin.register(DeviceConfig)
class DeviceConfigAdmin(RecordAdmin):
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
        return canonical_json(obj.redacted())


@admin.register(Command)
class CommandAdmin(RecordAdmin):
    list_display = ("command", "device", "status", "created_by", "created_at", "completed_at")
    list_filter = ("status", "command", DeviceIdFilter)
    search_fields = ("device__device_id", "request_id")
    list_select_related = ("device", "created_by")
    date_hierarchy = "created_at"
    exclude = ("params", "response")
    readonly_fields = [
        f"redacted_{field.name}" if field.name in ("params", "response") else field.name
        for field in Command._meta.fields
    ]

    @admin.display(description="Params (secrets hidden)")
    def redacted_params(self, obj):
        return canonical_json(redact_secrets(obj.params))

    @admin.display(description="Response (secrets hidden)")
    def redacted_response(self, obj):
        return canonical_json(redact_secrets(obj.response)) if obj.response is not None else "-"

    def lookup_allowed(self, lookup, value, request=None):
        # The group command summary links to its batch's commands; batches are too many for a sidebar filter.
        return lookup == "batch__id__exact" or super().lookup_allowed(lookup, value, request)


@admin.register(CommandBatch)
class CommandBatchAdmin(admin.ModelAdmin):
    list_display = ("command", "group", "created_by", "created_at")
    exclude = ("params",)
    readonly_fields = ("command", "redacted_params", "group", "created_by", "created_at")

    @admin.display(description="Params (secrets hidden)")
    def redacted_params(self, obj):
        return canonical_json(redact_secrets(obj.params))

    def has_add_permission(self, request):
        return False
