"""The periodic jobs of settings.PERIODIC_TASKS: written into django-celery-beat, or run in-process.

With Redis, `celery beat` reads the schedule from the database (DatabaseScheduler), so operators can
change or pause a job in the admin; sync_periodic_tasks writes the rows after every migrate (a changed
interval in settings wins at the next deploy; `enabled` is the admin's). Without Redis (`runconsole`)
there is no worker: a daemon thread calls the same task functions at the same intervals.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


def sync_periodic_tasks(tasks: dict[str, tuple[str, int]] | None = None) -> None:
    """Create or update one interval PeriodicTask per entry of `tasks` (default settings.PERIODIC_TASKS)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for name, (task, seconds) in (settings.PERIODIC_TASKS if tasks is None else tasks).items():
        schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": schedule})


def sync_periodic_tasks_after_migrate(sender, **kwargs) -> None:
    """post_migrate receiver; acts once per migrate (for the devices app, after beat's tables exist)."""
    if sender.label == "devices":
        sync_periodic_tasks()


def start() -> Callable[[], None] | None:
    """Embedded service: run the periodic jobs in a daemon thread, unless Celery beat does it (Redis set)."""
    if settings.REDIS_URL:
        return None
    stopping = threading.Event()
    thread = threading.Thread(
        target=run_periodic_tasks, args=(settings.PERIODIC_TASKS, stopping), name="periodic-tasks", daemon=True
    )
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=10)

    return stop


def run_periodic_tasks(tasks: dict[str, tuple[str, int]], stopping: threading.Event) -> None:
    """Call each task every `seconds` until `stopping` is set; a failing job is logged and retried next time."""
    jobs = [(name, import_string(path), seconds) for name, (path, seconds) in tasks.items()]
    due = dict.fromkeys((name for name, _, _ in jobs), time.monotonic())
    try:
        while not stopping.is_set():
            for name, job, seconds in jobs:
                if time.monotonic() < due[name]:
                    continue
                due[name] = time.monotonic() + seconds
                close_old_connections()
                try:
                    job()
                except Exception:
                    log.exception("periodic job %s failed", name)
            stopping.wait(max(0.05, min(due.values()) - time.monotonic()))
    finally:
        connections.close_all()  # this thread's connections; the database must not see them linger
