"""Query parameters of the alert lists."""

import django_filters

from acuvim_console.core.api.filtering import UtcIsoDateTimeFilter
from acuvim_console.protocol.enums import Severity
from alerts.models import Alert, AlertType


class AlertState(django_filters.ChoiceFilter):
    """`state=open` (unresolved) or `state=resolved`."""

    def filter(self, queryset, value):
        if not value:
            return queryset
        return queryset.filter(resolved_at__isnull=(value == "open"))


class AlertFilter(django_filters.FilterSet):
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices, distinct=False)
    type = django_filters.MultipleChoiceFilter(field_name="alert_type", choices=AlertType.choices, distinct=False)
    acknowledged = django_filters.BooleanFilter()
    state = AlertState(choices=[("open", "Open"), ("resolved", "Resolved")])
    device = django_filters.CharFilter(field_name="device__device_id", help_text="Device id (ACV-...).")
    rule = django_filters.NumberFilter(field_name="rule_id", help_text="Alerts opened by this alert rule.")
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Alert
        fields = ["severity", "type", "acknowledged", "state", "device", "rule", "since", "until"]
