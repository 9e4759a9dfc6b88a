"""Celery application: workers run the periodic jobs that django-celery-beat schedules from the database."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acuvim_console.settings")

app = Celery("acuvim_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _refuse_insecure_production(**kwargs):
    """Celery logs and swallows exceptions from signal handlers, so the refusal is a SystemExit."""
    from django.core.exceptions import ImproperlyConfigured

    from acuvim_console.operators.checks import refuse_insecure_production

    try:
        refuse_insecure_production()
    except ImproperlyConfigured as refusal:
        raise SystemExit(f"celery: {refusal}") from None
