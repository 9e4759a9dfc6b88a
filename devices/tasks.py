"""Celery tasks for the device fleet: thin wrappers that the beat schedule (or the embedded scheduler) runs."""

from celery import shared_task

from devices.control import commands
from devices.health import sweep


@shared_task(name="devices.tasks.health_sweep", ignore_result=True)
def health_sweep() -> dict:
    return sweep.sweep()


@shared_task(name="devices.tasks.command_timeouts", ignore_result=True)
def command_timeouts() -> dict:
    return commands.expire_and_timeout()
