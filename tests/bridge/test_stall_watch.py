"""A bridge worker stuck on one message is reported with where it waits, and the report stops with the stall."""

import logging
import threading
import time

import psycopg
from django.conf import settings as django_settings

from acuvim_console.bridge.stall_watch import StallWatch
from devices.models import Device
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device
from tests.support.metrics import metrics

STALL_LOGGER = "acuvim_console.bridge.stall_watch"


def _stall_warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == STALL_LOGGER]


def test_a_heartbeat_waiting_on_a_locked_device_row_is_reported_with_its_stack_until_the_lock_goes(
    start_bridge, device_client, settings, caplog
):
    """The heartbeat handler waits for the device's row lock, which another session holds: nothing fails,
    so only the watch can say that the device's messages have stopped, and where."""
    settings.MQTT_STALL_WARNING_S = 1
    caplog.set_level(logging.WARNING, logger=STALL_LOGGER)
    device = make_device()
    start_bridge()
    database = django_settings.DATABASES["default"]
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"]
    ) as blocker:
        blocker.execute(f"SELECT 1 FROM {Device._meta.db_table} WHERE id = %s FOR UPDATE", [device.pk])
        device_client.send(f"acuvim/{device.device_id}/heartbeat", messages.heartbeat(rssi=-42), qos=1)
        wait_until(lambda: _stall_warnings(caplog), timeout=10)
        warning = _stall_warnings(caplog)[0]
        assert f"heartbeat of {device.device_id}" in warning
        assert "handle_heartbeat" in warning, "the stack shows the handler it is stuck in"
        assert metrics.snapshot()["worker_stalls"] == {warning.split()[1]: 1}
        assert metrics.snapshot()["longest_busy_s"] >= 1
        blocker.rollback()
    wait_until(lambda: Device.objects.get(pk=device.pk).signal_strength == -42)
    wait_until(lambda: metrics.snapshot()["longest_busy_s"] == 0)
    time.sleep(1.5)
    assert len(_stall_warnings(caplog)) == 1, "a stall is reported once, not at every check"


def test_work_is_reported_again_while_it_lasts_and_never_once_it_ends(caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger=STALL_LOGGER)
    monkeypatch.setattr("acuvim_console.bridge.stall_watch.REPEAT_EVERY_S", 0.3)
    watch = StallWatch(limit_s=0.2)
    stuck, quick = watch.worker("control-0"), watch.worker("telemetry")
    release = threading.Event()

    def wait_for_release():
        stuck.begin(lambda: "a status of ACV-X")
        release.wait(10)
        stuck.end()

    worker = threading.Thread(target=wait_for_release)
    worker.start()
    quick.begin(lambda: "a batch")
    quick.end()
    time.sleep(0.25)
    assert watch.check() == 1
    assert watch.check() == 0, "not again before REPEAT_EVERY_S"
    time.sleep(0.35)
    assert watch.check() == 1
    assert watch.longest_busy_s() >= 0.5
    warnings = _stall_warnings(caplog)
    assert "control-0 worker has been on a status of ACV-X" in warnings[0]
    assert "wait_for_release" in warnings[0]
    release.set()
    worker.join(5)
    assert watch.check() == 0
    assert watch.longest_busy_s() == 0.0


def test_a_limit_of_zero_turns_the_watch_off():
    watch = StallWatch(limit_s=0)
    watch.worker("control-0").begin(lambda: "anything")
    assert watch.check() == 0
