"""Device routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from acuvim_console.core.url_converters import KEY
from devices.api import views

urlpatterns = [
    path("devices", views.DeviceListView.as_view(), name="device-list"),
    path(f"devices/<{KEY}:device_id>", views.DeviceDetailView.as_view(), name="device-detail"),
    path(f"devices/<{KEY}:device_id>/status", views.DeviceStatusView.as_view(), name="device-status"),
    path(f"devices/<{KEY}:device_id>/command", views.DeviceCommandView.as_view(), name="device-command"),
    path(f"devices/<{KEY}:device_id>/commands", views.DeviceCommandHistoryView.as_view(), name="device-commands"),
    path(f"devices/<{KEY}:device_id>/config", views.DeviceConfigView.as_view(), name="device-config"),
    path(f"devices/<{KEY}:device_id>/config/wifi/scan", views.WifiScanView.as_view(), name="device-wifi-scan"),
]
