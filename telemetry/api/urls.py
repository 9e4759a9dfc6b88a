"""Telemetry routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from telemetry.api import views

urlpatterns = [
    path("devices/<str:device_id>/telemetry", views.LatestTelemetryView.as_view(), name="telemetry-latest"),
    path("devices/<str:device_id>/telemetry/history", views.TelemetryHistoryView.as_view(), name="telemetry-history"),
    path("devices/<str:device_id>/telemetry/export", views.TelemetryExportView.as_view(), name="telemetry-export"),
]
