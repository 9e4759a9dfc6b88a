"""`make run` with DEMO_DEVICES: runconsole on SQLite brings up simulated gateways that register and stream.

The first run is what a new user judges the product by: every gateway in with its inventory within a
minute, and a console log with no traceback and no database lock contention, on either embedded broker.
"""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acuvim_console.demo_fleet import DEMO_PREFIX
from firmware_src.simulator.fleet import device_id_for
from tests.support.embedded import embedded_env
from tests.support.mosquitto import free_port, wait_for_port

pytestmark = pytest.mark.e2e

PROJECT_DIR = Path(__file__).resolve().parents[2]
FIRST_RUN_DEVICES = 25
FIRST_RUN_DEADLINE_S = 60
# After the last gateway is in, the log is watched this long more: reconnect storms and late tracebacks show
# within seconds of the fleet settling (waiting out the whole minute cost the suite a minute per broker).
LOG_SETTLE_S = 10
# What a first-run log must never show: a crash of any thread or task, or SQLite turning a writer away.
LOG_DEFECTS = ("Traceback", "database is locked", "RuntimeError")


def query(database: Path, sql: str) -> list[tuple]:
    """Read what the console stored; [] before migrations or while a writer holds the file for a moment."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=2) as db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def fleet_view(database: Path) -> tuple[int, int]:
    """(gateways online, gateways with telemetry) as the console stored them."""
    online = query(database, "SELECT COUNT(*) FROM devices_device WHERE status = 'online'")
    streaming = query(database, "SELECT COUNT(DISTINCT device_id) FROM telemetry_telemetryrecord")
    return (online[0][0] if online else 0), (streaming[0][0] if streaming else 0)


def inventoried(database: Path) -> set[str]:
    """Gateways whose registration arrived: hardware, firmware version and MAC address filled in."""
    rows = query(
        database,
        "SELECT device_id FROM devices_device WHERE hardware != '' AND firmware_version != '' AND mac_address != ''",
    )
    return {row[0] for row in rows}


@pytest.fixture
def start_runconsole(tmp_path):
    """Start `manage.py runconsole` as `make run` does, on a fresh DATA_DIR; stopped at the end of the test."""
    processes = []

    def start(demo_devices: int, **extra_env: str) -> tuple[Path, Path]:
        web_port = free_port()
        env = embedded_env(
            tmp_path,
            ADMIN_PASSWORD="demo-fleet-pw-42",
            MQTT_EMBEDDED_PORT=str(free_port()),
            RUNCONSOLE_PORT=str(web_port),
            DEMO_DEVICES=str(demo_devices),
            **extra_env,
        )
        output = tmp_path / "runconsole.log"
        with output.open("w") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "runconsole"],
                    cwd=PROJECT_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_for_port(web_port, timeout=60)
        return tmp_path / "acuvim.sqlite3", output

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_runconsole_with_demo_devices_shows_three_gateways_online_and_streaming(start_runconsole):
    database, output = start_runconsole(3)
    deadline = time.monotonic() + 30
    view = (0, 0)
    while time.monotonic() < deadline and view != (3, 3):
        time.sleep(0.5)
        view = fleet_view(database)
    assert view == (3, 3), f"(online, streaming) = {view}; log:\n{output.read_text()[-3000:]}"
    ids = {row[0] for row in query(database, "SELECT device_id FROM devices_device")}
    assert ids == {device_id_for(DEMO_PREFIX, index) for index in range(3)}


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_first_run_with_25_demo_gateways_brings_all_in_with_inventory_and_a_clean_log(start_runconsole, broker):
    started = time.monotonic()
    database, output = start_runconsole(FIRST_RUN_DEVICES, MQTT_EMBEDDED_BROKER=broker)
    expected = {device_id_for(DEMO_PREFIX, index) for index in range(FIRST_RUN_DEVICES)}
    while time.monotonic() - started < FIRST_RUN_DEADLINE_S and inventoried(database) != expected:
        time.sleep(0.5)
    took = time.monotonic() - started
    log = output.read_text()
    missing = expected - inventoried(database)
    assert not missing, f"{len(missing)} gateways without inventory after {took:.0f} s; log:\n{log[-3000:]}"
    time.sleep(LOG_SETTLE_S)
    log = output.read_text()
    defects = [line for line in log.splitlines() if any(defect in line for defect in LOG_DEFECTS)]
    assert not defects, f"the first run logged {defects[:5]}; log:\n{log[-3000:]}"
    assert f"MQTT broker: {'Mosquitto' if broker == 'mosquitto' else 'amqtt'}" in log
