from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from access import checks, credentials, log_masking  # noqa: F401  (checks register themselves)

        credentials.connect()
        log_masking.install()
