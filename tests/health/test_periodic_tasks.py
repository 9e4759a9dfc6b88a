"""The periodic jobs: beat's schedule rows, the embedded scheduler, and a real Celery worker and beat."""

import os
import secrets
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from acuvim_console import scheduler
from acuvim_console.celery import app
from devices.choices import DeviceStatus
from devices.models import Device
from tests.factories import make_device

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CELERY_REDIS_URL = "redis://127.0.0.1:6379/11"  # a database no other test uses


def wait_until(condition, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def device_status(pk) -> str:
    return Device.objects.filter(pk=pk).values_list("status", flat=True).get()


@pytest.mark.django_db
def test_migrate_writes_one_beat_entry_per_periodic_task_and_the_tasks_exist():
    app.loader.import_default_modules()  # what a worker does at start: autodiscover the tasks
    for name, (task, seconds) in django_settings.PERIODIC_TASKS.items():
        entry = PeriodicTask.objects.get(name=name)
        assert (entry.task, entry.interval.every, entry.interval.period) == (task, seconds, "seconds")
        assert task in app.tasks


@pytest.mark.django_db
def test_sync_updates_intervals_and_leaves_the_enabled_switch_to_the_admin():
    PeriodicTask.objects.filter(name="devices: health sweep").update(enabled=False)
    scheduler.sync_periodic_tasks({"devices: health sweep": ("devices.tasks.health_sweep", 7)})
    entry = PeriodicTask.objects.get(name="devices: health sweep")
    assert entry.interval.every == 7 and entry.enabled is False


@pytest.mark.django_db(transaction=True)
def test_embedded_scheduler_runs_the_sweep_in_process(settings):
    settings.REDIS_URL = ""
    settings.PERIODIC_TASKS = {"devices: health sweep": ("devices.tasks.health_sweep", 0.2)}
    device = make_device(last_heartbeat=timezone.now() - timedelta(hours=1))
    stop = scheduler.start()
    try:
        assert wait_until(lambda: device_status(device.pk) == DeviceStatus.OFFLINE, timeout=10)
    finally:
        stop()


def test_embedded_scheduler_stands_aside_when_celery_runs_the_jobs(settings):
    settings.REDIS_URL = CELERY_REDIS_URL
    assert scheduler.start() is None


def start(args, env, log_path):
    log = open(log_path, "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(args, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT), log


def stop(process, log):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.mark.django_db(transaction=True)
def test_celery_worker_and_beat_run_the_health_sweep_from_the_database_schedule(tmp_path):
    redis.Redis.from_url(CELERY_REDIS_URL).flushdb()
    scheduler.sync_periodic_tasks(
        {
            "devices: health sweep": ("devices.tasks.health_sweep", 1),
            "devices: command timeouts": ("devices.tasks.command_timeouts", 1),
        }
    )
    device = make_device(last_heartbeat=timezone.now() - timedelta(hours=1))
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "acuvim_console.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": CELERY_REDIS_URL,
        "HEALTH_SWEEP_SECONDS": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),  # with REDIS_URL this is production: a weak key stops Celery
        "DATA_DIR": str(tmp_path),
    }
    celery = [sys.executable, "-m", "celery", "-A", "acuvim_console"]
    worker = start(
        [*celery, "worker", "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
        env,
        tmp_path / "worker.log",
    )
    beat = start([*celery, "beat", "-l", "info", "-s", str(tmp_path / "beat-schedule")], env, tmp_path / "beat.log")
    try:
        went_offline = wait_until(lambda: device_status(device.pk) == DeviceStatus.OFFLINE, timeout=45, step=0.5)
    finally:
        stop(*beat)
        stop(*worker)
    logs = (tmp_path / "worker.log").read_text() + (tmp_path / "beat.log").read_text()
    assert went_offline, logs[-3000:]
    assert "devices.tasks.health_sweep" in logs
