"""PostgreSQL away for a while: the bridge waits, retries, recovers by itself and loses nothing.

Three kinds of outage: the telemetry table locked (commits stall), every connection killed (the server
stays up), and the server itself stopped and started again. The last one runs on a private cluster
created for the test (tests.support.postgres): the shared server must never go down under other tests.
"""

import subprocess
import sys
import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection

from devices.models import Command, Device
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, telemetry_table_locked, wait_until
from tests.control.mqtt_inbox import Inbox
from tests.factories import make_device
from tests.support.bridge_process import PROJECT_DIR
from tests.support.metrics import metrics
from tests.support.postgres import PostgresCluster


def _stream(device_client, device_id: str, start: float, count: int, pause_every: int = 0) -> None:
    for n in range(count):
        device_client.send(f"acuvim/{device_id}/telemetry", messages.reading(start + n, seq=n), qos=1)
        if pause_every and n % pause_every == 0:
            time.sleep(0.05)


def test_telemetry_table_locked_past_the_keepalive_loses_nothing_and_keeps_the_connection(
    start_bridge, device_client, settings
):
    """The in-flight window fills, the broker holds the rest, and the MQTT thread, never waiting on a full
    queue, keeps answering the broker: the connection outlives a commit stall of several keepalives."""
    settings.MQTT_RECEIVE_MAXIMUM = settings.MQTT_QUEUE_SIZE = 100  # small: the broker holds the backlog
    settings.MQTT_BATCH_SIZE = 30
    settings.MQTT_KEEPALIVE_S = 2
    start_bridge()
    device = make_device()
    start = time.time() - 3600
    with telemetry_table_locked():
        publishing = threading.Thread(target=_stream, args=(device_client, device.device_id, start, 1500))
        publishing.start()
        time.sleep(3 * settings.MQTT_KEEPALIVE_S)
        assert metrics.snapshot()["stored"] == 0, "nothing can be committed while the table is locked"
        assert metrics.snapshot()["received_total"] <= 100, "the broker sends no more than the window"
    publishing.join(30)
    wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 1500, timeout=30)
    assert metrics.snapshot()["stored"] == 1500
    assert metrics.snapshot()["connects"] == 1, "the stall did not cost the connection"


def test_killed_database_connections_are_reopened_and_nothing_is_lost(bridge, device_client):
    device = make_device()
    start = time.time() - 3600
    publishing = threading.Thread(target=_stream, args=(device_client, device.device_id, start, 2000))
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


# --- the server stopped -------------------------------------------------------------------------

TELEMETRY = 300
KNOWN_DEVICE = "ACV-0000000000D1"  # registered before the outage
NEW_DEVICE = "ACV-0000000000D2"  # registers while the database is down


@pytest.fixture
def private_cluster():
    cluster = PostgresCluster().create()
    yield cluster
    cluster.destroy()


class ConsoleDatabase:
    """Reads of the private cluster's console database, the way an operator's query would see them."""

    def __init__(self, url: str):
        self.url = url

    def value(self, sql: str, *params):
        with psycopg.connect(self.url, connect_timeout=2) as db:
            row = db.execute(sql, params).fetchone()
        return row[0] if row else None

    def device(self, device_id: str, column: str):
        return self.value(f"SELECT {column} FROM {Device._meta.db_table} WHERE device_id = %s", device_id)

    def telemetry_count(self, device_id: str) -> int:
        return self.value(
            f"SELECT count(*) FROM {TelemetryRecord._meta.db_table} t JOIN {Device._meta.db_table} d "
            "ON d.id = t.device_id WHERE d.device_id = %s",
            device_id,
        )

    def command_status(self, request_id: str) -> str:
        return self.value(f"SELECT status FROM {Command._meta.db_table} WHERE request_id = %s", request_id)


def _send_command(database_url: str, mqtt_url: str, device_id: str, command: str) -> None:
    """The console's own CLI creates the command and publishes it, as a field engineer would."""
    subprocess.run(
        [sys.executable, "manage.py", "send_command", device_id, command],
        cwd=PROJECT_DIR,
        env={"DATABASE_URL": database_url, "MQTT_URL": mqtt_url, "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"},
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_postgresql_stopped_and_started_mid_stream_loses_nothing_and_the_bridge_recovers_by_itself(
    mqtt_broker, private_cluster, bridge_processes
):
    database_url = private_cluster.create_migrated_database(f"acuvim_outage_{uuid.uuid4().hex[:6]}")
    db = ConsoleDatabase(database_url)
    bridge = bridge_processes(mqtt_broker.url, database_url=database_url, DEVICE_AUTO_ACCEPT="true")
    device = DeviceClient(mqtt_broker.port)
    commands = Inbox(mqtt_broker.port, f"acuvim/{KNOWN_DEVICE}/cmd")
    try:
        device.wait_for_bridge(bridge.client_id)
        device.send(f"devices/register/{KNOWN_DEVICE}", messages.registration(KNOWN_DEVICE))
        wait_until(lambda: db.device(KNOWN_DEVICE, "status") == "online")
        _send_command(database_url, mqtt_broker.url, KNOWN_DEVICE, "ping")
        _, command = commands.next(10)

        start = time.time() - 3600
        streaming = threading.Thread(target=_stream, args=(device, KNOWN_DEVICE, start, TELEMETRY, 10))
        streaming.start()
        wait_until(lambda: db.telemetry_count(KNOWN_DEVICE) > 0)
        private_cluster.stop()
        assert streaming.is_alive(), "the database must go away in the middle of the stream"

        # Everything a gateway says while the database is down: a new device, a heartbeat, a command result.
        device.send(f"devices/register/{NEW_DEVICE}", messages.registration(NEW_DEVICE))
        device.send(f"acuvim/{KNOWN_DEVICE}/heartbeat", messages.heartbeat(uptime=4242, rssi=-51))
        device.send(f"acuvim/{KNOWN_DEVICE}/resp", {**command, "status": "ack", "ts": time.time()})
        device.send(
            f"acuvim/{KNOWN_DEVICE}/resp", {**command, "status": "success", "data": {"uptime": 4242}, "ts": time.time()}
        )
        time.sleep(3)
        assert bridge.alive(), "the bridge must wait the outage out, not exit"
        private_cluster.start()
        streaming.join(60)

        wait_until(lambda: db.telemetry_count(KNOWN_DEVICE) == TELEMETRY, timeout=30)
        wait_until(lambda: db.command_status(command["req"]) == "success", timeout=15)
        wait_until(lambda: db.device(NEW_DEVICE, "status") == "online", timeout=15)
        wait_until(lambda: db.device(KNOWN_DEVICE, "uptime_s") == 4242, timeout=15)
        assert db.device(KNOWN_DEVICE, "signal_strength") == -51
        assert "database unavailable" in bridge.log(), "the outage was seen and waited out"

        # Recovered by itself: new messages after the outage are handled without any restart.
        device.send(f"acuvim/{NEW_DEVICE}/telemetry", messages.reading(start, seq=1))
        wait_until(lambda: db.telemetry_count(NEW_DEVICE) == 1, timeout=10)
        assert bridge.alive()
    finally:
        commands.close()
        device.close()
