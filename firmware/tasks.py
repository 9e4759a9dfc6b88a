"""Celery tasks for firmware rollouts: thin wrappers that the beat schedule (or the embedded scheduler) runs."""

from celery import shared_task

from firmware import rollouts


@shared_task(name="firmware.tasks.advance_rollouts", ignore_result=True)
def advance_rollouts() -> dict:
    return rollouts.advance_rollouts()
