"""Celery tasks of the telemetry app: thin wrappers that the beat schedule (or the embedded scheduler) runs."""

from celery import shared_task

from telemetry.maintenance import run_pass


@shared_task(name="telemetry.tasks.maintenance", ignore_result=True)
def maintenance() -> list[str]:
    return run_pass().lines
