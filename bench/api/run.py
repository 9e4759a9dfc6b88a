"""Benchmark of the two busiest read endpoints on PostgreSQL at fleet scale.

    .venv/bin/python bench/api/run.py [--devices 100000] [--rows 10000000] [--requests 200] [--keep | --reuse]

Creates its own database (acuvim_bench_api; dropped at the end unless --keep; --reuse keeps a loaded one),
loads the fleet with COPY and the telemetry with one INSERT ... SELECT generate_series, then times requests
through the real URL conf, authentication (a Viewer's JWT), permissions, filters and serializers with
Django's test Client (in-process, so the figures are the server's own time without network):

  device list   GET /api/devices?status=online&page=N (page of 50, N random among the first 200 pages)
  history       GET /api/devices/{id}/telemetry/history over 30 days in 5-minute buckets (8,640 buckets)

Telemetry goes to `--busy-devices` devices (default 100), one reading every 30 s going back from now,
so with 10 M rows each busy device holds ~35 days and the 30-day window covers 86,400 readings.
Targets: device list p95 < 50 ms, history p95 < 300 ms.

No maintenance pass runs here, so the history is computed from the raw readings (the worst case);
bench/history measures it with rollups, as a running console has them.
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench.support import copy_devices, drop_database, point_django_at, recreate_database  # noqa: E402

DATABASE = "acuvim_bench_api"
point_django_at(DATABASE)
STATUSES = ("online", "online", "online", "degraded", "offline")  # 60 % online
READING_INTERVAL_S = 30
TARGETS_MS = {"device list": 50, "history": 300}


def load_fleet(count: int, now) -> None:
    """COPY `count` devices in a mix of statuses, with every other column at the model's default."""
    from django.db import connection

    from devices.models import Device

    copy_devices(
        count,
        lambda n: {
            "device_id": f"ACV-{n:012X}",
            "name": f"Meter {n}",
            "status": STATUSES[n % len(STATUSES)],
            "firmware_version": ("1.1.0", "1.2.0")[n % 2],
            "hardware": "TTGO T-Call v1.4",
            "last_heartbeat": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    with connection.cursor() as cursor:
        # Steady state: autovacuum has run, so the visibility map lets COUNT(*) use an index-only scan.
        cursor.execute(f"VACUUM ANALYZE {Device._meta.db_table}")


def load_telemetry(rows: int, busy_devices: int, now) -> None:
    """`rows` readings spread over the first `busy_devices` devices, generated inside PostgreSQL."""
    from django.db import connection

    from telemetry.models import CONNECTION_CODES, SOURCE_CODES

    per_device = rows // busy_devices
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO telemetry_telemetryrecord
                (device_id, ts, ts_estimated, received_at, source, connection, seq, f, vavg, iavg, pt, pft)
            SELECT d.id, %(now)s - make_interval(secs => n * %(step)s), false,
                   %(now)s - make_interval(secs => n * %(step)s), %(source)s, %(connection)s, n,
                   50 + (n %% 7) * 0.01, 228 + (n %% 11) * 0.5, 10 + (n %% 13), 6.5 + (n %% 5) * 0.1, 0.95
            FROM (SELECT id FROM devices_device ORDER BY device_id LIMIT %(busy)s) AS d
            CROSS JOIN generate_series(0, %(per_device)s - 1) AS n
            """,
            {
                "now": now,
                "step": READING_INTERVAL_S,
                "busy": busy_devices,
                "per_device": per_device,
                "source": SOURCE_CODES["live"],
                "connection": CONNECTION_CODES["wifi"],
            },
        )
        cursor.execute("VACUUM ANALYZE telemetry_telemetryrecord")


def timed(client, url: str, params: dict, headers: dict, cpu: list | None = None) -> float:
    """Wall time of one request in ms; its CPU time in this process (Django, DRF, psycopg) goes to `cpu`."""
    started, cpu_started = time.perf_counter(), time.process_time()
    response = client.get(url, params, **headers)
    elapsed = (time.perf_counter() - started) * 1000
    if cpu is not None:
        cpu.append((time.process_time() - cpu_started) * 1000)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed


def report(name: str, samples: list[float], cpu: list[float]) -> None:
    samples = sorted(samples)
    p50 = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    verdict = "ok" if p95 < TARGETS_MS[name] else "OVER TARGET"
    print(
        f"{name:12s} n={len(samples):4d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {samples[-1]:7.1f} ms  "
        f"python CPU p50 {statistics.median(cpu):6.1f} ms  (target p95 < {TARGETS_MS[name]} ms: {verdict})"
    )


def measure(requests: int) -> None:
    from datetime import timedelta

    from django.test import Client
    from django.test.utils import setup_test_environment, teardown_test_environment
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from acuvim_console.operators.accounts import create_user_with_role
    from acuvim_console.operators.roles import VIEWER, sync_roles
    from devices.models import Device

    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    setup_test_environment()  # lets the test Client's host through ALLOWED_HOSTS
    sync_roles()
    viewer = create_user_with_role(f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, VIEWER)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(viewer).access_token}"}
    client = Client()
    busy = Device.objects.order_by("device_id").values_list("device_id", flat=True).first()
    online_pages = max(1, min(200, Device.objects.filter(status="online").count() // 50))
    rng = random.Random(7)

    for _ in range(5):  # warm the connection, caches and plans
        timed(client, "/api/devices", {"status": "online"}, headers)
    cpu = []
    samples = [
        timed(client, "/api/devices", {"status": "online", "page": rng.randint(1, online_pages)}, headers, cpu)
        for _ in range(requests)
    ]
    report("device list", samples, cpu)
    end = timezone.now().replace(second=0, microsecond=0)
    window = {"start": (end - timedelta(days=30)).isoformat(), "end": end.isoformat(), "bucket": "5m"}
    url = f"/api/devices/{busy}/telemetry/history"
    response = client.get(url, window, **headers)
    points = response.json()["points"]
    print(f"history of {busy}: {len(points)} buckets, {sum(p['samples'] for p in points)} readings averaged")
    timed(client, url, window, headers)
    cpu = []
    samples = [timed(client, url, window, headers, cpu) for _ in range(max(10, requests // 5))]
    report("history", samples, cpu)
    teardown_test_environment()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000_000, help="telemetry rows")
    parser.add_argument("--busy-devices", type=int, default=100, help="devices the telemetry is spread over")
    parser.add_argument("--requests", type=int, default=200, help="device-list requests (history: a fifth)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the database left by --keep, skip loading")
    args = parser.parse_args()

    if not args.reuse:
        recreate_database(DATABASE)
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    if not args.reuse:
        call_command("migrate", verbosity=0)
        now = timezone.now()
        started = time.perf_counter()
        load_fleet(args.devices, now)
        print(f"loaded {args.devices} devices in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        load_telemetry(args.rows, args.busy_devices, now)
        print(f"loaded {args.rows} telemetry rows in {time.perf_counter() - started:.1f} s")
    try:
        measure(args.requests)
    finally:
        if not (args.keep or args.reuse):
            drop_database(DATABASE)


if __name__ == "__main__":
    main()
