"""Celery tasks of the alerts app: thin wrappers over alerts.rules and alerts.notifications.

The two periodic ones are in settings.PERIODIC_TASKS (beat, or the embedded scheduler thread); the
other two are requested after commits when a worker exists, so a channel hears of an alert at once.
"""

from celery import shared_task

from alerts import notifications, rules


@shared_task(name="alerts.tasks.rule_pass", ignore_result=True)
def rule_pass() -> dict:
    return rules.advance()


@shared_task(name="alerts.tasks.notification_sweep", ignore_result=True)
def notification_sweep() -> dict:
    return notifications.sweep()


@shared_task(name="alerts.tasks.flush_channel", ignore_result=True)
def flush_channel_task(channel_id: int) -> list[int]:
    return notifications.flush_channel(channel_id)


@shared_task(name="alerts.tasks.send_delivery", ignore_result=True)
def send_delivery_task(delivery_id: int) -> str | None:
    return notifications.send_delivery(delivery_id)
