from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OperatorsConfig(AppConfig):
    """The people who use the console: accounts, roles, tokens and how they sign in.

    The label stays `access`, the app's name before it moved here, so its tables and migrations are unchanged.
    """

    name = "acuvim_console.operators"
    label = "access"
    verbose_name = "Operators"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from acuvim_console.operators import checks, credentials, log_masking  # noqa: F401  (checks register themselves)
        from acuvim_console.operators.roles import sync_roles_after_migrate

        credentials.connect()
        log_masking.install()
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="acuvim_console.operators.sync_roles")
