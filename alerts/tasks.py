"""The periodic Celery tasks of the alerts app: thin wrappers over alerts.rules and alerts.notifications.

Both are in settings.PERIODIC_TASKS (beat, or the embedded scheduler thread). The two tasks requested
after commits (a channel's flush, a delivery's send) live in alerts.notifications beside the code that
requests them, so the module does not import its own callers.
"""

from celery import shared_task

from alerts import notifications, rules


@shared_task(name="alerts.tasks.rule_pass", ignore_result=True)
def rule_pass() -> dict:
    return rules.advance()


@shared_task(name="alerts.tasks.notification_sweep", ignore_result=True)
def notification_sweep() -> dict:
    return notifications.sweep()
