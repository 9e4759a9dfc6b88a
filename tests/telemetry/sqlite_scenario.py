"""Run inside `manage.py shell` on an embedded (SQLite) database by test_sqlite.py; prints what it found as JSON.

Readings go in through the real ingest path, then one maintenance pass runs; the output lets the test
compare the rollups with the readings and check what retention removed.
"""

import json
from datetime import UTC, datetime, timedelta

from telemetry.maintenance import run_pass
from telemetry.models import FiveMinuteRollup, HourlyRollup, TelemetryRecord
from tests.factories import make_device
from tests.telemetry.readings import store_many

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
START = NOW - timedelta(hours=2)


def main() -> None:
    device = make_device()
    minute = timedelta(minutes=1)
    counter = [100.0 + n for n in range(10)] + [0.0 + n for n in range(10)]  # a reset after 10 minutes
    store_many(
        device,
        [(START + n * minute, {"ep_imp": value, "v1": 220.0 + n, "thd_i3": n / 10}) for n, value in enumerate(counter)],
    )
    store_many(device, [(NOW - timedelta(days=d), {}) for d in (8, 40, 400)])
    report = run_pass(NOW)
    recent = TelemetryRecord.objects.filter(device=device, ts__gte=START).order_by("ts")
    output = {
        "report": report.lines,
        "readings_left": TelemetryRecord.objects.filter(device=device).count(),
        "raw_v1": [row.v1 for row in recent],
        "five_minute": [
            [row.bucket.isoformat(), row.samples, row.v1_avg, row.v1_min, row.v1_max, row.v1_last, row.ep_imp_energy]
            for row in FiveMinuteRollup.objects.filter(device=device).order_by("bucket")
        ],
        "hourly": [
            [row.bucket.isoformat(), row.samples, row.v1_avg, row.ep_imp_energy]
            for row in HourlyRollup.objects.filter(device=device).order_by("bucket")
        ],
    }
    print(json.dumps(output))


main()
