"""Admin for alerts: triage by severity, type, state and device; acknowledge and resolve, live.

Beside the inbox: alert rules (Operator+), silences (Operator+), notification channels (Admin) and the
delivery log (read only: what was sent to whom, what failed and why, what is being retried).
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import path
from django.utils.html import format_html

from alerts import admin_views
from alerts.dry_run import dry_run
from alerts.models import Alert, AlertRule, Delivery, Notice, NotificationChannel, Silence
from alerts.services import DEFAULT_SILENCE, SILENCE_DURATIONS, acknowledge_alerts, resolve_alerts, silence_devices
from devices.admin.filters import DeviceIdFilter


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
        "rule",
        "severity_badge",
        "message",
        "occurrences",
        "live_state",
        "handled",
        "created_at",
        "last_seen_at",
    )
    list_filter = (StateFilter, "severity", "alert_type", "source", DeviceIdFilter)
    search_fields = ("device__device_id", "message")
    list_select_related = ("device", "rule", "acknowledged_by", "resolved_by")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge", "resolve", "silence_devices"]
    action_form = admin_views.AlertActionForm

    def get_urls(self):
        inbox = path(
            "<int:pk>/inbox/", self.admin_site.admin_view(admin_views.inbox_action), name="alerts_alert_inbox"
        )
        return [inbox, *super().get_urls()]

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

    @admin.display(description="Handled")
    def handled(self, obj):
        """Who acknowledged and who resolved it, and when: the inbox's memory."""
        parts = []
        if obj.acknowledged_at:
            parts.append(f"ack {obj.acknowledged_by or '?'} {obj.acknowledged_at:%Y-%m-%d %H:%M}")
        if obj.resolved_at:
            parts.append(f"resolved {obj.resolved_by or 'automatically'} {obj.resolved_at:%Y-%m-%d %H:%M}")
        return "; ".join(parts) or "-"

    @admin.action(description="Resolve selected alerts", permissions=["acknowledge"])
    def resolve(self, request, queryset):
        resolved = resolve_alerts(queryset, request.user)
        self.message_user(request, f"{resolved} alert(s) resolved.")

    @admin.action(
        description="Silence the devices of the selected alerts (duration and reason beside the menu)",
        permissions=["silence"],
    )
    def silence_devices(self, request, queryset):
        fields = admin_views.SilenceFields(request.POST)
        try:
            duration, reason = fields.silence()
        except ValueError as exc:
            self.message_user(request, f"Nothing silenced: {exc}.", messages.ERROR)
            return
        created = silence_devices(queryset, duration=duration, reason=reason, user=request.user)
        label = SILENCE_DURATIONS[fields.cleaned_data["silence_for"] or DEFAULT_SILENCE][0]
        self.message_user(request, f"{len(created)} device(s) silenced for {label}; their alerts stay open.")

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("alerts.acknowledge_alert")

    def has_silence_permission(self, request):
        return request.user.has_perm("alerts.add_silence")

    def has_add_permission(self, request):
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "condition", "duration_s", "clear_duration_s", "severity", "scope", "enabled")
    list_filter = ("enabled", "severity", "field", "op")
    list_editable = ("enabled",)
    search_fields = ("name", "device__device_id", "group__name")
    autocomplete_fields = ("device",)
    readonly_fields = ("created_by", "created_at", "updated_at")
    actions = ["dry_run_7_days"]
    fieldsets = (
        (None, {"fields": ("name", "enabled", "severity")}),
        ("Condition", {"fields": ("field", "op", "threshold", "threshold_high", "duration_s")}),
        ("Clearing", {"fields": ("clear_threshold", "clear_threshold_high", "clear_duration_s")}),
        ("Escalation", {"fields": ("escalate_after_s", "escalate_to")}),
        ("Scope (neither: the whole fleet)", {"fields": ("device", "group")}),
        ("History", {"fields": ("created_by", "created_at", "updated_at")}),
    )

    def get_urls(self):
        dry_run_view = path(
            "dry-run/",
            self.admin_site.admin_view(lambda request: admin_views.rule_dry_run(self, request)),
            name="alerts_alertrule_dry_run",
        )
        return [dry_run_view, *super().get_urls()]

    @admin.display(description="Condition")
    def condition(self, rule):
        if rule.threshold_high is not None:
            return f"{rule.field} outside {rule.threshold:g}..{rule.threshold_high:g}"
        return f"{rule.field} {rule.op} {rule.threshold:g}"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def render_change_form(self, request, context, *args, **kwargs):
        context["dry_run_days"] = settings.ALERT_RULE_DRY_RUN_DAYS
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.action(description="Dry run: how often would these rules have fired in the last 7 days?")
    def dry_run_7_days(self, request, queryset):
        """Save a new rule disabled, dry-run it here, then enable it: nobody is paged while tuning."""
        for rule in queryset:
            if rule.watches_health:
                self.message_user(request, f"{rule}: health rules have no stored history to replay.")
                continue
            result = dry_run(rule).as_dict()
            busiest = ", ".join(f"{d['device_id']} x{d['opened']}" for d in result["busiest"][:5]) or "-"
            note = " (stopped at the row limit)" if result["truncated"] else ""
            self.message_user(
                request,
                f"{rule}: would have opened {result['would_open']} alert(s) on {result['devices_alerted']} of "
                f"{result['devices']} device(s) over {result['readings']} readings{note}; busiest: {busiest}",
            )


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ("reason", "device", "group", "rule", "starts_at", "ends_at", "created_by")
    search_fields = ("reason", "device__device_id", "group__name", "rule__name")
    autocomplete_fields = ("device",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class ChannelForm(forms.ModelForm):
    """The secret is write-only: the field starts empty and leaving it empty keeps the stored one."""

    url = forms.URLField(required=False, max_length=500, assume_scheme="https", help_text="Webhook address.")
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="Webhook signing key (HMAC-SHA256). Leave empty to keep the current one.")

    class Meta:
        model = NotificationChannel
        fields = (
            "name", "kind", "enabled", "url", "secret", "body_format", "to", "min_severity", "device", "group",
            "alert_types", "hourly_cap",
        )

    def clean_secret(self):
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "enabled", "min_severity", "device", "group", "hourly_cap")
    list_filter = ("kind", "enabled", "min_severity")
    search_fields = ("name",)
    autocomplete_fields = ("device",)


class NoticeInline(admin.TabularInline):
    model = Notice
    fields = ("alert", "event", "severity", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: one row per message sent (or tried) to a channel."""

    list_display = ("id", "channel", "status", "digest", "notice_count", "attempts", "last_error", "created_at",
                    "sent_at")
    list_filter = ("status", "digest", "channel")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [NoticeInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
