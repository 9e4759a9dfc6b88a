"""Alert routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from acuvim_console.core.url_converters import KEY
from alerts.api import rule_views, views

urlpatterns = [
    path("alerts", views.AlertListView.as_view(), name="alert-list"),
    path("alerts/<int:pk>/acknowledge", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path(f"devices/<{KEY}:device_id>/alerts", views.DeviceAlertListView.as_view(), name="device-alerts"),
    path("alert-rules", rule_views.AlertRuleListView.as_view(), name="alert-rule-list"),
    path("alert-rules/dry-run", rule_views.AlertRuleDryRunView.as_view(), name="alert-rule-dry-run"),
    path("alert-rules/<int:pk>", rule_views.AlertRuleDetailView.as_view(), name="alert-rule-detail"),
    path("silences", rule_views.SilenceListView.as_view(), name="silence-list"),
    path("silences/<int:pk>", rule_views.SilenceDetailView.as_view(), name="silence-detail"),
    path("notification-channels", rule_views.ChannelListView.as_view(), name="notification-channel-list"),
    path("notification-channels/<int:pk>", rule_views.ChannelDetailView.as_view(), name="notification-channel-detail"),
]
