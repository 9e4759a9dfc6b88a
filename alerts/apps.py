from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts.models import AlertRule
        from alerts.rules import cache

        # A rule saved or deleted in this process (admin, API, tests with an in-process bridge) applies at once;
        # other processes pick it up within ALERT_RULES_RELOAD_S.
        post_save.connect(cache.invalidate, sender=AlertRule, dispatch_uid="alerts.rule_saved")
        post_delete.connect(cache.invalidate, sender=AlertRule, dispatch_uid="alerts.rule_deleted")
