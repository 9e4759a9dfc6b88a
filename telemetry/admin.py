"""Telemetry rows in the admin: read-only, searchable by device; the charts live on the device page."""

from django.contrib import admin

from acuvim_console.record_admin import RecordAdmin
from devices.admin_filters import DeviceIdFilter
from telemetry.models import TelemetryRecord


@admin.register(TelemetryRecord)
class TelemetryRecordAdmin(RecordAdmin):
    list_display = ("device", "ts", "source", "connection", "voltage_avg", "current_avg", "power_total", "frequency")
    list_filter = ("source", "connection", DeviceIdFilter)
    search_fields = ("device__device_id",)
    list_select_related = ("device",)
    show_full_result_count = False  # counting tens of millions of rows on every page view is too slow
    readonly_fields = [f.name for f in TelemetryRecord._meta.fields]
