"""Admin for alerts: triage by severity, type, state and device; acknowledge and resolve, live."""

from django.contrib import admin
from django.utils.html import format_html

from alerts.models import Alert
from alerts.services import acknowledge_alerts, resolve_alert
from devices.admin_filters import DeviceIdFilter


class StateFilter(admin.SimpleListFilter):
    """Open means unresolved (acknowledged or not); the default view an engineer wants."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("unacknowledged", "Open, not acknowledged"), ("resolved", "Resolved"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "unacknowledged":
            return queryset.filter(resolved_at__isnull=True, acknowledged=False)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


def alert_state(alert: Alert) -> str:
    if alert.resolved_at:
        return "resolved"
    return "acknowledged" if alert.acknowledged else "open"


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "device",
        "alert_type",
        "severity_badge",
        "message",
        "occurrences",
        "live_state",
        "created_at",
        "last_seen_at",
    )
    list_filter = (StateFilter, "severity", "alert_type", "source", DeviceIdFilter)
    search_fields = ("device__device_id", "message")
    list_select_related = ("device",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge", "resolve"]

    @admin.display(description="Severity", ordering="severity")
    def severity_badge(self, obj):
        return format_html('<span class="acv-sev acv-sev--{}">{}</span>', obj.severity, obj.get_severity_display())

    @admin.display(description="State")
    def live_state(self, obj):
        state = alert_state(obj)
        return format_html(
            '<span class="acv-state acv-state--{}" data-alert-state="{}">{}</span>', state, obj.pk, state
        )

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        acknowledged = acknowledge_alerts(queryset, request.user)
        self.message_user(request, f"{len(acknowledged)} alert(s) acknowledged.")

    @admin.action(description="Resolve selected alerts", permissions=["acknowledge"])
    def resolve(self, request, queryset):
        resolved = sum(
            resolve_alert(alert.device, alert.alert_type, reason=f"resolved by {request.user}")
            for alert in queryset.filter(resolved_at__isnull=True).select_related("device")
        )
        self.message_user(request, f"{resolved} alert(s) resolved.")

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("alerts.acknowledge_alert")

    def has_add_permission(self, request):
        return False
