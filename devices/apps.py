from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self):
        import acuvim_console.mqtt.checks  # noqa: F401  (registers the bridge's settings checks)
        from devices.roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="devices.sync_roles")

        from acuvim_console.scheduler import sync_periodic_tasks_after_migrate

        post_migrate.connect(sync_periodic_tasks_after_migrate, dispatch_uid="devices.sync_periodic_tasks")
