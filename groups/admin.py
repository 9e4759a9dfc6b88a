from django.contrib import admin
from django.db.models import Count

from groups.models import DeviceGroup


@admin.register(DeviceGroup)
class DeviceGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "device_count", "created_at")
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_device_count=Count("devices"))

    @admin.display(description="Devices", ordering="_device_count")
    def device_count(self, obj):
        return obj._device_count
