"""Query parameters of the device and command lists; a bad value is a 400 with the field named."""

import django_filters
from django.db import connection

from acuvim_console.core.api.filtering import UtcIsoDateTimeFilter
from acuvim_console.protocol.enums import CommandName
from devices.choices import CommandStatus, DeviceStatus
from devices.models import Command, Device
from groups.models import DeviceGroup


class DeviceFilter(django_filters.FilterSet):
    # distinct=False: filtering one table cannot duplicate rows, and SELECT DISTINCT over 45 columns is slow.
    status = django_filters.MultipleChoiceFilter(
        choices=DeviceStatus.choices, distinct=False, help_text="Repeat for several."
    )
    group = django_filters.ModelChoiceFilter(queryset=DeviceGroup.objects.all(), help_text="Group id.")
    ungrouped = django_filters.BooleanFilter(field_name="group", lookup_expr="isnull")
    firmware_version = django_filters.CharFilter()
    hardware = django_filters.CharFilter(lookup_expr="iexact")
    tag = django_filters.CharFilter(method="filter_tag", max_length=64, help_text="Devices carrying this tag.")

    class Meta:
        model = Device
        fields = ["status", "group", "ungrouped", "firmware_version", "hardware", "connection_type", "tag"]

    def filter_tag(self, queryset, name, value):
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        # SQLite has no JSON containment; tags are a JSON list of strings, so match the quoted item.
        return queryset.filter(tags__icontains=f'"{value}"')


class CommandFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CommandStatus.choices, distinct=False)
    command = django_filters.ChoiceFilter(choices=CommandName.choices)
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Command
        fields = ["status", "command", "since", "until"]
