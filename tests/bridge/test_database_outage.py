"""PostgreSQL away for a while (table locked, connections killed): the bridge waits, retries and loses nothing."""

import threading
import time

import psycopg
from django.conf import settings
from django.db import connection

from acuvim_console.mqtt.metrics import metrics
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import wait_until
from tests.factories import make_device


def _raw_connection() -> psycopg.Connection:
    database = settings.DATABASES["default"]
    return psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname=database["NAME"], autocommit=False
    )


def _stream(device_client, device, start: float, count: int) -> None:
    for n in range(count):
        device_client.send(f"acuvim/{device.device_id}/telemetry", messages.reading(start + n, seq=n), qos=1)


def test_telemetry_table_locked_for_seconds_then_released_loses_nothing(start_bridge, device_client, settings):
    settings.MQTT_QUEUE_SIZE = 100  # small, so the MQTT thread blocks and the broker holds the backlog
    start_bridge()
    device = make_device()
    start = time.time() - 3600
    with _raw_connection() as blocker:
        blocker.execute(f"LOCK TABLE {TelemetryRecord._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        publishing = threading.Thread(target=_stream, args=(device_client, device, start, 1500))
        publishing.start()
        time.sleep(3)
        assert metrics.snapshot()["stored"] == 0, "nothing can be committed while the table is locked"
        assert metrics.snapshot()["acked"] < 1500, "nothing may be acknowledged before its commit"
        blocker.rollback()
    publishing.join(30)
    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 1500, timeout=30)
    assert metrics.snapshot()["stored"] == 1500


def test_killed_database_connections_are_reopened_and_nothing_is_lost(bridge, device_client):
    device = make_device()
    start = time.time() - 3600
    publishing = threading.Thread(target=_stream, args=(device_client, device, start, 2000))
    publishing.start()
    killed = 0
    with connection.cursor() as cursor:
        while publishing.is_alive() and killed < 200:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            killed += cursor.fetchone()[0]
            time.sleep(0.15)
    publishing.join(30)

    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 2000, timeout=30)
    assert killed > 0
    assert metrics.snapshot()["db_errors"] > 0
