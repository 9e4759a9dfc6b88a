"""`runconsole` with no MQTT_URL: its own broker (Mosquitto, or the amqtt fallback) and the bridge take a
device in on SQLite."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, wait_until
from tests.support.embedded import embedded_env
from tests.support.mosquitto import free_port, wait_for_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEVICE_ID = "ACV-0123456789AB"


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_runconsole_embedded_broker_registers_a_device_and_stores_its_telemetry(tmp_path, broker):
    mqtt_port, http_port = free_port(), free_port()
    env = embedded_env(
        tmp_path,
        ADMIN_PASSWORD="embedded-pw-1234",
        MQTT_EMBEDDED_PORT=str(mqtt_port),
        DEVICE_AUTO_ACCEPT="1",
        MQTT_METRICS_INTERVAL_S="0",
        MQTT_EMBEDDED_BROKER=broker,
    )
    console = subprocess.Popen(
        [sys.executable, "manage.py", "runconsole", "--port", str(http_port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    device = None
    try:
        wait_for_port(http_port, timeout=60)
        device = DeviceClient(mqtt_port)
        device.wait_for_bridge("acuvim-console-bridge")
        device.send(f"devices/register/{DEVICE_ID}", messages.registration(DEVICE_ID))
        database = tmp_path / "acuvim.sqlite3"

        def query(sql):
            with sqlite3.connect(database) as connection:
                return connection.execute(sql, (DEVICE_ID,)).fetchall()

        assert wait_until(lambda: query("SELECT status FROM devices_device WHERE device_id = ?"), 20) == [("online",)]
        device.send(f"acuvim/{DEVICE_ID}/telemetry", messages.reading(time.time() - 1))
        count_sql = (
            "SELECT count(*) FROM telemetry_telemetryrecord t JOIN devices_device d ON t.device_id = d.id "
            "WHERE d.device_id = ? AND t.frequency = 50.01"
        )
        wait_until(lambda: query(count_sql) == [(1,)], 20)
    finally:
        if device is not None:
            device.close()
        console.terminate()
        try:
            console.wait(15)
        except subprocess.TimeoutExpired:
            console.kill()
