"""Alert routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from alerts.api import views

urlpatterns = [
    path("alerts", views.AlertListView.as_view(), name="alert-list"),
    path("alerts/<int:pk>/acknowledge", views.AlertAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("devices/<str:device_id>/alerts", views.DeviceAlertListView.as_view(), name="device-alerts"),
]
