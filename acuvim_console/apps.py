from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConsoleConfig(AppConfig):
    """The project itself as an app: its management commands (the bridge, runconsole), the bridge's
    settings checks and the hook that keeps the periodic jobs in step with settings."""

    name = "acuvim_console"
    verbose_name = "Acuvim Console"

    def ready(self):
        import acuvim_console.bridge.checks  # noqa: F401  (registers the bridge's settings checks)
        from acuvim_console.scheduler import sync_periodic_tasks_after_migrate

        post_migrate.connect(sync_periodic_tasks_after_migrate, dispatch_uid="acuvim_console.sync_periodic_tasks")
