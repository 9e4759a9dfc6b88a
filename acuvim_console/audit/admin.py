"""The audit log in the admin: filterable, searchable, read-only; nobody adds, edits or deletes an entry."""

from django.contrib import admin

from acuvim_console.audit.models import AuditLog
from acuvim_console.core.record_admin import RecordAdmin


@admin.register(AuditLog)
class AuditLogAdmin(RecordAdmin):
    list_display = ("ts", "actor", "action", "target", "ip")
    list_filter = ("action", "actor")
    search_fields = ("actor", "target", "ip")
    date_hierarchy = "ts"
    readonly_fields = ("ts", "actor", "action", "target", "ip", "detail")
    actions = None  # not even "delete selected"

    def has_delete_permission(self, request, obj=None):
        return False
