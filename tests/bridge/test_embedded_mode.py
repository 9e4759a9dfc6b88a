"""`runconsole` with no MQTT_URL: its own broker (Mosquitto, or the amqtt fallback) and the bridge take a
device in on SQLite; with Mosquitto, what the broker held survives the console being killed; with its
dynamic-security plugin, the embedded broker has accounts only, like production.

The tests of durability and registration turn the accounts off (MQTT_EMBEDDED_SECURE=0) to drive an
anonymous device; one test keeps them on and signs a provisioned gateway in.
"""

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from acuvim_console.core.broker_files import dynsec_plugin
from acuvim_console.core.local_broker import port_in_use
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, wait_until
from tests.support.embedded import embedded_env
from tests.support.mosquitto import free_port, wait_for_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEVICE_ID = "ACV-0123456789AB"
BRIDGE_CLIENT_ID = "acuvim-console-bridge"
STATUS_SQL = "SELECT status FROM devices_device WHERE device_id = ?"
COUNT_SQL = (
    "SELECT count(*), count(DISTINCT t.ts) FROM telemetry_telemetryrecord t "
    "JOIN devices_device d ON t.device_id = d.id WHERE d.device_id = ?"
)


def start_console(data_dir: Path, mqtt_port: int, broker: str, *, secure: bool = False, **extra) -> subprocess.Popen:
    http_port = free_port()
    env = embedded_env(
        data_dir,
        ADMIN_PASSWORD="embedded-pw-1234",
        MQTT_EMBEDDED_PORT=str(mqtt_port),
        DEVICE_AUTO_ACCEPT="1",
        MQTT_METRICS_INTERVAL_S="0",
        MQTT_EMBEDDED_BROKER=broker,
        MQTT_EMBEDDED_SECURE="1" if secure else "0",
        **extra,
    )
    console = subprocess.Popen(
        [sys.executable, "manage.py", "runconsole", "--port", str(http_port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(http_port, timeout=60)
    return console


def stop_console(console: subprocess.Popen) -> None:
    if console.poll() is None:
        console.terminate()
        try:
            console.wait(15)
        except subprocess.TimeoutExpired:
            console.kill()
            console.wait()


def query(data_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "acuvim.sqlite3") as connection:
        return connection.execute(sql, (DEVICE_ID,)).fetchall()


def register(device: DeviceClient, data_dir: Path) -> None:
    device.wait_for_bridge(BRIDGE_CLIENT_ID)
    device.send(f"devices/register/{DEVICE_ID}", messages.registration(DEVICE_ID))
    assert wait_until(lambda: query(data_dir, STATUS_SQL), 20) == [("online",)]


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_runconsole_embedded_broker_registers_a_device_and_stores_its_telemetry(tmp_path, broker):
    mqtt_port = free_port()
    console = start_console(tmp_path, mqtt_port, broker)
    device = None
    try:
        device = DeviceClient(mqtt_port)
        register(device, tmp_path)
        device.send(f"acuvim/{DEVICE_ID}/telemetry", messages.reading(time.time() - 1))
        wait_until(lambda: query(tmp_path, COUNT_SQL) == [(1, 1)], 20)
    finally:
        if device is not None:
            device.close()
        stop_console(console)


def test_embedded_mosquitto_delivers_what_a_killed_console_had_not_stored_after_the_restart(tmp_path):
    """The console is frozen, readings reach the broker, the console is killed: none is lost.

    Killed, the console cannot stop its broker; the broker is told by the kernel (it dies with its parent),
    saves the bridge's persistent session with every unacknowledged reading, and the next console's
    bridge resumes that session.
    """
    mqtt_port, readings = free_port(), 300
    console = start_console(tmp_path, mqtt_port, "mosquitto")
    device = DeviceClient(mqtt_port)
    second = None
    try:
        register(device, tmp_path)
        console.send_signal(signal.SIGSTOP)  # the bridge takes nothing more in, the broker keeps accepting
        start = time.time() - 3600
        for n in range(readings):
            device.send(f"acuvim/{DEVICE_ID}/telemetry", messages.reading(start + n, seq=n))
        console.kill()
        console.wait(10)
        assert query(tmp_path, COUNT_SQL) == [(0, 0)]
        wait_until(lambda: not port_in_use(mqtt_port), 15)  # the broker has saved and exited

        second = start_console(tmp_path, mqtt_port, "mosquitto")
        wait_until(lambda: query(tmp_path, COUNT_SQL)[0][0] >= readings, 30)
        time.sleep(0.5)
        assert query(tmp_path, COUNT_SQL) == [(readings, readings)]
    finally:
        device.close()
        if console.poll() is None:
            console.kill()
        if second is not None:
            stop_console(second)


@pytest.mark.skipif(not dynsec_plugin(), reason="Mosquitto's dynamic-security plugin is not installed")
def test_runconsole_secured_embedded_broker_refuses_anonymous_clients_and_signs_a_provisioned_gateway_in(tmp_path):
    mqtt_port, tls_port = free_port(), free_port()
    console = start_console(tmp_path, mqtt_port, "mosquitto", secure=True, MQTT_EMBEDDED_TLS_PORT=str(tls_port))
    try:
        wait_for_port(tls_port, timeout=20)
        assert (tmp_path / "broker" / "ca.crt").exists()
        anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anonymous")
        refused = []
        anonymous.on_connect = lambda client, userdata, flags, reason_code, properties: refused.append(reason_code)
        anonymous.connect("127.0.0.1", mqtt_port)
        anonymous.loop_start()
        wait_until(lambda: refused, 10)
        anonymous.loop_stop()
        assert refused[0].is_failure

        # provision_device against the same console: the embedded broker's account file gives it the
        # console's credentials, as runconsole uses them
        username, password = json.loads((tmp_path / "broker" / "console-credentials.json").read_text()).values()
        provisioned = subprocess.run(
            [sys.executable, "manage.py", "provision_device", DEVICE_ID],
            cwd=PROJECT_DIR,
            env=embedded_env(
                tmp_path,
                MQTT_URL=f"mqtt://{username}:{password}@127.0.0.1:{mqtt_port}",
                MQTT_BROKER_ADMIN="dynsec",
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        device_password = re.search(r"MQTT password: (\S+)", provisioned).group(1)
        device = DeviceClient(mqtt_port, username=DEVICE_ID, password=device_password)
        try:
            device.send(f"devices/register/{DEVICE_ID}", messages.registration(DEVICE_ID))
            device.send(f"acuvim/{DEVICE_ID}/telemetry", messages.reading(time.time() - 1))
            wait_until(lambda: query(tmp_path, COUNT_SQL) == [(1, 1)], 20)
        finally:
            device.close()
    finally:
        stop_console(console)
