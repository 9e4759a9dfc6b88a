"""Admin for device groups: how each site is doing at a glance, and acting on a whole site at once."""

from django.contrib import admin
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from devices.admin import actions
from devices.choices import DeviceStatus
from devices.models import Device
from groups.models import DeviceGroup
from telemetry.admin_views import group_energy_view

COUNTED_STATUSES = (DeviceStatus.ONLINE, DeviceStatus.DEGRADED, DeviceStatus.OFFLINE, DeviceStatus.PENDING)


def deploy_target(groups) -> dict:
    """One group is deployed as a group target (recorded on the rollout); several as their current members."""
    if groups.count() == 1:
        return {"group": groups.get().pk}
    members = Device.objects.filter(group__in=groups).values_list("device_id", flat=True)
    return {"devices": ",".join(members)}


@admin.register(DeviceGroup)
class DeviceGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "description", "device_count", *(f"{s}_count" for s in COUNTED_STATUSES), "energy_link")
    search_fields = ("name",)
    actions = ["send_group_command", "deploy_firmware"]
    change_list_template = "admin/groups/devicegroup/change_list.html"

    def get_queryset(self, request):
        per_status = {f"_{status}": Count("devices", filter=Q(devices__status=status)) for status in COUNTED_STATUSES}
        return super().get_queryset(request).annotate(_device_count=Count("devices"), **per_status)

    @admin.display(description="Devices", ordering="_device_count")
    def device_count(self, obj):
        return obj._device_count

    @admin.display(description="Online", ordering="_online")
    def online_count(self, obj):
        return self._count_link(obj, DeviceStatus.ONLINE)

    @admin.display(description="Degraded", ordering="_degraded")
    def degraded_count(self, obj):
        return self._count_link(obj, DeviceStatus.DEGRADED)

    @admin.display(description="Offline", ordering="_offline")
    def offline_count(self, obj):
        return self._count_link(obj, DeviceStatus.OFFLINE)

    @admin.display(description="Pending", ordering="_pending")
    def pending_count(self, obj):
        return self._count_link(obj, DeviceStatus.PENDING)

    @staticmethod
    def _count_link(group, status):
        count = getattr(group, f"_{status}")
        if not count:
            return "0"
        devices = reverse("admin:devices_device_changelist")
        return format_html(
            '<a class="acv-count acv-count--{}" href="{}?group__id__exact={}&status__exact={}">{}</a>',
            status,
            devices,
            group.pk,
            status,
            count,
        )

    @admin.display(description="Energy")
    def energy_link(self, obj):
        return format_html('<a href="{}">energy</a>', reverse("admin:groups_devicegroup_energy", args=[obj.pk]))

    def get_urls(self):
        """The group's energy page (telemetry.admin_views) beside the usual ones."""

        def energy(request, pk):
            return group_energy_view(request, get_object_or_404(DeviceGroup, pk=pk), self)

        view = self.admin_site.admin_view(energy)
        return [path("<uuid:pk>/energy/", view, name="groups_devicegroup_energy"), *super().get_urls()]

    @admin.action(description="Send a command to selected groups", permissions=["send_command"])
    def send_group_command(self, request, queryset):
        return actions.send_command_to_groups(self, request, queryset)

    @admin.action(description="Deploy firmware to selected groups", permissions=["deploy_firmware"])
    def deploy_firmware(self, request, queryset):
        return actions.deploy_to_selection(
            self, request, queryset, action="deploy_firmware", target_query=deploy_target
        )

    def has_deploy_firmware_permission(self, request):
        return request.user.has_perm("firmware.deploy_firmware")

    def has_send_command_permission(self, request):
        return request.user.has_perm("devices.send_command")
