"""The admin base for records the console writes itself: status changes, configs, commands, telemetry, rollouts.

They are evidence of what happened, so nobody adds or edits one by hand; each stays viewable, and deletable
where the model's admin and the user's permissions allow it.
"""

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
