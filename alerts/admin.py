from django.contrib import admin
from django.utils import timezone

from alerts.models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("device", "alert_type", "severity", "message", "acknowledged", "created_at", "resolved_at")
    list_filter = ("severity", "alert_type", "acknowledged", "source")
    search_fields = ("device__device_id", "message")
    list_select_related = ("device",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        count = queryset.filter(acknowledged=False).update(
            acknowledged=True, acknowledged_by=request.user, acknowledged_at=timezone.now()
        )
        self.message_user(request, f"{count} alert(s) acknowledged.")

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("alerts.acknowledge_alert")

    def has_add_permission(self, request):
        return False
