"""Celery application: workers run the periodic jobs that django-celery-beat schedules from the database."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acuvim_console.settings")

app = Celery("acuvim_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
