"""Sidebar filters shared by the fleet's admin lists."""

from django.contrib import admin
from django.db.models import F, Q


class ConfigDriftFilter(admin.SimpleListFilter):
    """Devices whose desired config differs from the one they last reported applying."""

    title = "config drift"
    parameter_name = "drift"

    def lookups(self, request, model_admin):
        return (("yes", "Desired config not applied"), ("no", "In sync"))

    def queryset(self, request, queryset):
        drift = Q(desired_config_hash__gt="") & ~Q(desired_config_hash=F("applied_config_hash"))
        if self.value() == "yes":
            return queryset.filter(drift)
        if self.value() == "no":
            return queryset.exclude(drift)
        return queryset


class DeviceIdFilter(admin.SimpleListFilter):
    """A text box rather than a list: a fleet has too many devices to list them in the sidebar."""

    title = "device"
    parameter_name = "device_id"
    template = "admin/acuvim/input_filter.html"

    def lookups(self, request, model_admin):
        return (("", ""),)  # the admin hides a filter without lookups

    def choices(self, changelist):
        kept = [
            (key, value)
            for key, values in changelist.filter_params.items()
            if key != self.parameter_name
            for value in values
        ]
        yield {"kept": kept, "parameter_name": self.parameter_name, "value": self.value() or ""}

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(device__device_id__iexact=value) if value else queryset
