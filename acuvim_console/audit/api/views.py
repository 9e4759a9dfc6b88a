"""`GET /api/audit`: the audit log for Admins, newest first, filtered by actor, action, target and time."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics

from acuvim_console.audit.api.filters import AuditLogFilter
from acuvim_console.audit.api.serializers import AuditLogSerializer
from acuvim_console.audit.models import AuditLog
from acuvim_console.core.api.permissions import PROTECTED, VIEW_AUDIT
from acuvim_console.core.api.schema import BAD_REQUEST, ERROR_RESPONSES


@extend_schema_view(
    get=extend_schema(
        tags=["audit"],
        summary="Who did what, when and from where (Admin only)",
        responses={200: AuditLogSerializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES},
    )
)
class AuditLogListView(generics.ListAPIView):
    queryset = AuditLog.objects.all()
    serializer_class = AuditLogSerializer
    filterset_class = AuditLogFilter
    search_fields = ["actor", "target"]
    ordering_fields = ["ts", "actor", "action"]
    ordering = ["-ts", "-id"]
    permission_classes = PROTECTED
    required_permissions = {"GET": VIEW_AUDIT}
