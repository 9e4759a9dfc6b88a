"""Alert routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from acuvim_console.url_converters import KEY
from alerts.api import views

urlpatterns = [
    path("alerts", views.AlertListView.as_view(), name="alert-list"),
    path("alerts/<int:pk>/acknowledge", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path(f"devices/<{KEY}:device_id>/alerts", views.DeviceAlertListView.as_view(), name="device-alerts"),
]
