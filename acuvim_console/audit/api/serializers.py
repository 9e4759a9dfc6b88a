from rest_framework import serializers

from acuvim_console.audit.models import AuditLog


class AuditLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditLog
        fields = ["id", "ts", "actor", "action", "target", "ip", "detail"]
        read_only_fields = fields
