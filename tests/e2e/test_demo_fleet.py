"""`make run` with DEMO_DEVICES=3: runconsole on SQLite brings up three simulated gateways that stream."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acuvim_console.demo_fleet import DEMO_PREFIX
from firmware_src.simulator.fleet import device_id_for
from tests.support.mosquitto import free_port, wait_for_port

pytestmark = pytest.mark.e2e

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEMO_COUNT = 3


def fleet_view(database: Path) -> tuple[int, int]:
    """(gateways online, gateways with telemetry) as the console stored them; (0, 0) before migrations."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=2) as db:
            online = db.execute("SELECT COUNT(*) FROM devices_device WHERE status = 'online'").fetchone()[0]
            streaming = db.execute("SELECT COUNT(DISTINCT device_id) FROM telemetry_telemetryrecord").fetchone()[0]
    except sqlite3.OperationalError:  # not created or migrated yet, or locked for a moment
        return 0, 0
    return online, streaming


@pytest.fixture
def runconsole(tmp_path):
    web_port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "MQTT_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DATA_DIR=str(tmp_path),
        ADMIN_PASSWORD="demo-fleet-pw-42",
        MQTT_EMBEDDED_PORT=str(free_port()),
        RUNCONSOLE_PORT=str(web_port),
        DEMO_DEVICES=str(DEMO_COUNT),
    )
    output = tmp_path / "runconsole.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runconsole"], cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(web_port, timeout=60)
            yield tmp_path / "acuvim.sqlite3", output
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_runconsole_with_demo_devices_shows_three_gateways_online_and_streaming(runconsole):
    database, output = runconsole
    deadline = time.monotonic() + 30
    view = (0, 0)
    while time.monotonic() < deadline and view != (DEMO_COUNT, DEMO_COUNT):
        time.sleep(0.5)
        view = fleet_view(database)
    assert view == (DEMO_COUNT, DEMO_COUNT), f"(online, streaming) = {view}; log:\n{output.read_text()[-3000:]}"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        ids = {row[0] for row in db.execute("SELECT device_id FROM devices_device")}
    assert ids == {device_id_for(DEMO_PREFIX, index) for index in range(DEMO_COUNT)}
