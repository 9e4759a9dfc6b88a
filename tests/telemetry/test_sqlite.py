"""The embedded console's SQLite: rollups, energy across a reset and retention by batched deletes, for real.

A subprocess migrates a fresh SQLite file and runs sqlite_scenario.py inside `manage.py shell`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'console.sqlite3'}", REDIS_URL="")
    env["TELEMETRY_DELETE_BATCH"] = "2"  # several batches for the few expired rows
    run = {"cwd": PROJECT_DIR, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], **run)
    script = (PROJECT_DIR / "tests/telemetry/sqlite_scenario.py").read_text()
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], **run).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_sqlite_rollups_equal_the_readings_and_count_a_reset_as_no_energy(scenario):
    v1 = scenario["raw_v1"]
    assert [row[1] for row in scenario["five_minute"] if row[0] >= "2026-12-01T13"] == [5, 5, 5, 5]
    recent = [row for row in scenario["five_minute"] if row[0] >= "2026-12-01T13"]
    for n, (_, samples, avg, low, high, last, _) in enumerate(recent):
        values = v1[5 * n : 5 * n + 5]
        assert (avg, low, high, last) == (pytest.approx(sum(values) / samples), min(values), max(values), values[-1])
    assert [row[-1] for row in recent] == [4.0, 5.0, 4.0, 5.0]
    hour = next(row for row in scenario["hourly"] if row[0].startswith("2026-12-01T13"))
    assert hour[1] == 20 and hour[2] == pytest.approx(sum(v1) / 20) and hour[3] == 18.0


def test_sqlite_retention_deletes_exactly_the_expired_readings_and_rollups_in_batches(scenario):
    # Readings 8, 40 and 400 days old: all past the 7-day raw retention; the recent 20 stay.
    assert scenario["readings_left"] == 20
    # 5-minute buckets keep 30 days: the 8-day-old one stays; hourly keep 365: the 400-day-old one goes.
    assert len(scenario["five_minute"]) == 4 + 1
    assert len(scenario["hourly"]) == 1 + 2
    assert "retention of telemetry_telemetryrecord (7 d): 3 rows deleted" in scenario["report"]
