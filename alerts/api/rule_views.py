"""Alert rule, silence and notification channel endpoints: Viewer reads; Operator writes rules and
silences; Admin writes channels (their secrets and addresses decide where alert data goes)."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from acuvim_console.core.api.permissions import PROTECTED
from acuvim_console.core.api.schema import BAD_REQUEST, ERROR_RESPONSES, NOT_FOUND
from alerts.api.rule_serializers import (
    AlertRuleSerializer,
    DryRunSerializer,
    NotificationChannelSerializer,
    SilenceSerializer,
)
from alerts.api.views import MAX_BIGINT
from alerts.dry_run import dry_run
from alerts.models import AlertRule, NotificationChannel, Silence

TAG = "alerts"
_not_found = {**ERROR_RESPONSES, **NOT_FOUND}


def _model_permissions(model) -> dict:
    """The Django model permissions the admin checks, as MethodPermissions' table."""
    label, name = model._meta.app_label, model._meta.model_name
    change = f"{label}.change_{name}"
    return {
        "GET": f"{label}.view_{name}",
        "POST": f"{label}.add_{name}",
        "PUT": change,
        "PATCH": change,
        "DELETE": f"{label}.delete_{name}",
    }


def _crud_views(model, serializer, queryset, noun: str, examples=(), record_creator: bool = False):
    """The list/create and detail views of one model, documented alike."""

    class ListView(generics.ListCreateAPIView):
        serializer_class = serializer
        permission_classes = PROTECTED
        required_permissions = _model_permissions(model)
        ordering = ["-id"]
        ordering_fields = ["id", "name"] if hasattr(model, "name") else ["id", "ends_at"]

        def get_queryset(self):
            return queryset()

        def perform_create(self, form):
            form.save(**({"created_by": self.request.user} if record_creator else {}))

    class DetailView(generics.RetrieveUpdateDestroyAPIView):
        serializer_class = serializer
        permission_classes = PROTECTED
        required_permissions = _model_permissions(model)

        def get_queryset(self):
            return queryset()

        def get_object(self):
            if self.kwargs["pk"] > MAX_BIGINT:  # would overflow the column type instead of simply not matching
                raise NotFound()
            return super().get_object()

    list_view = extend_schema_view(
        get=extend_schema(
            tags=[TAG],
            summary=f"List {noun}s",
            responses={200: serializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES},
        ),
        post=extend_schema(
            tags=[TAG],
            summary=f"Create a {noun}",
            examples=list(examples),
            responses={201: serializer, **BAD_REQUEST, **ERROR_RESPONSES},
        ),
    )(ListView)
    detail_view = extend_schema_view(
        get=extend_schema(tags=[TAG], summary=f"One {noun}", responses={200: serializer, **_not_found}),
        put=extend_schema(
            tags=[TAG], summary=f"Replace a {noun}", responses={200: serializer, **BAD_REQUEST, **_not_found}
        ),
        patch=extend_schema(
            tags=[TAG], summary=f"Update part of a {noun}", responses={200: serializer, **BAD_REQUEST, **_not_found}
        ),
        delete=extend_schema(tags=[TAG], summary=f"Delete a {noun}", responses={204: None, **_not_found}),
    )(DetailView)
    list_view.__name__, detail_view.__name__ = f"{model.__name__}ListView", f"{model.__name__}DetailView"
    return list_view, detail_view


RULE_EXAMPLE = OpenApiExample(
    "V1 high",
    value={
        "name": "V1 high",
        "field": "v1",
        "op": ">",
        "threshold": 250,
        "clear_threshold": 245,
        "duration_s": 10,
        "clear_duration_s": 0,
        "severity": "warning",
        "device": None,
        "group": None,
        "enabled": True,
    },
    request_only=True,
)
CHANNEL_EXAMPLES = (
    OpenApiExample(
        "Webhook",
        request_only=True,
        value={
            "name": "ops",
            "kind": "webhook",
            "url": "https://hooks.example.com/acuvim",
            "secret": "change-me",
            "min_severity": "info",
        },
    ),
    OpenApiExample(
        "Email",
        request_only=True,
        value={"name": "ops mail", "kind": "email", "to": ["ops@example.com"], "min_severity": "warning"},
    ),
)

AlertRuleListView, AlertRuleDetailView = _crud_views(
    AlertRule,
    AlertRuleSerializer,
    lambda: AlertRule.objects.select_related("device", "group", "created_by"),
    "alert rule",
    examples=[RULE_EXAMPLE],
    record_creator=True,
)
SilenceListView, SilenceDetailView = _crud_views(
    Silence,
    SilenceSerializer,
    lambda: Silence.objects.select_related("device", "created_by"),
    "silence",
    record_creator=True,
)
ChannelListView, ChannelDetailView = _crud_views(
    NotificationChannel,
    NotificationChannelSerializer,
    lambda: NotificationChannel.objects.select_related("device"),
    "notification channel",
    examples=CHANNEL_EXAMPLES,
)


class AlertRuleDryRunView(APIView):
    """Replay a rule (the create body, not saved) over the stored history: how often would it have opened?"""

    permission_classes = PROTECTED
    required_permissions = {"POST": "alerts.add_alertrule"}

    @extend_schema(
        tags=[TAG],
        summary="Dry run of a telemetry rule over the last 7 days of stored readings (nothing is saved)",
        request=AlertRuleSerializer,
        responses={200: DryRunSerializer, **BAD_REQUEST, **ERROR_RESPONSES},
        examples=[RULE_EXAMPLE],
    )
    def post(self, request):
        form = AlertRuleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        rule = AlertRule(**form.validated_data)
        if rule.watches_health:
            raise ValidationError({"field": ["The dry run replays telemetry; health quantities are not stored."]})
        return Response(dry_run(rule).as_dict())
