from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "acuvim_console.audit"
    label = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from acuvim_console.audit import user_changes

        user_changes.connect()
