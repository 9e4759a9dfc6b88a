"""Telemetry routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from acuvim_console.core.url_converters import KEY
from telemetry.api import views

urlpatterns = [
    path(f"devices/<{KEY}:device_id>/telemetry", views.LatestTelemetryView.as_view(), name="telemetry-latest"),
    path(
        f"devices/<{KEY}:device_id>/telemetry/history", views.TelemetryHistoryView.as_view(), name="telemetry-history"
    ),
    path(f"devices/<{KEY}:device_id>/telemetry/export", views.TelemetryExportView.as_view(), name="telemetry-export"),
    path(f"devices/<{KEY}:device_id>/telemetry/energy", views.DeviceEnergyView.as_view(), name="telemetry-energy"),
    path(
        f"devices/<{KEY}:device_id>/telemetry/energy/export",
        views.DeviceEnergyExportView.as_view(),
        name="telemetry-energy-export",
    ),
    path("groups/<uuid:pk>/energy", views.GroupEnergyView.as_view(), name="group-energy"),
    path("groups/<uuid:pk>/energy/export", views.GroupEnergyExportView.as_view(), name="group-energy-export"),
]
