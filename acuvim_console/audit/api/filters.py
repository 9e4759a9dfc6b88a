import django_filters

from acuvim_console.audit.models import AuditAction, AuditLog
from acuvim_console.core.api.filtering import UtcIsoDateTimeFilter


class AuditLogFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(help_text="Exact username.")
    action = django_filters.MultipleChoiceFilter(choices=AuditAction.choices, help_text="One or more actions.")
    target = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the target, e.g. a device id.")
    since = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="ts", lookup_expr="lt")

    class Meta:
        model = AuditLog
        fields = ["actor", "action", "target", "since", "until"]
