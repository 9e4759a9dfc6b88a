"""History at fleet scale: p95 of 24 h / 30 d / 365 d requests for one device, read from rollups and readings.

    .venv/bin/python bench/history/run.py [--devices 1000] [--raw-hours 12] [--five-minute-days 30]
                                          [--hourly-days 365] [--hourly-devices 1000] [--requests 50] [--keep]

Creates its own database (acuvim_bench_history; dropped at the end unless --keep), loads `--devices`
devices with COPY and generates, inside PostgreSQL, time-interleaved as a fleet writes them:
- raw readings of every device at 5 s for the last `--raw-hours` (every quantity);
- 5-minute rollups of every device for the last `--five-minute-days`;
- hourly rollups of `--hourly-devices` devices for the last `--hourly-days`;
and sets the rollup watermark 2 minutes behind now, as a console running its maintenance pass every
5 minutes has it; the closed rollup partitions are then rewritten in (device, bucket) order, as that
pass does once a partition's span is over (telemetry.partitions.compact_closed_partitions). Then it
times, through the real URL conf, JWT authentication and permissions
(Django's test Client, in-process), GET /api/devices/{id}/telemetry/history for the first device over
24 h, 30 d and 365 d with the default bucket (~1,000 points or fewer: 5 min, 1 h, 12 h), once as the
first API's call (five chart averages) and once with `fields=v1,v2,v3&agg=avg,min,max`.

Target: p95 < 50 ms for each. A year of hourly rows for 1,000 devices is ~7.5 GB: on a shared
machine use `--hourly-devices` and say so with the figures.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench.support import copy_devices, drop_database, point_django_at, recreate_database  # noqa: E402

DATABASE = "acuvim_bench_history"
TARGET_MS = 50
RANGES = {"24 h": timedelta(hours=24), "30 d": timedelta(days=30), "365 d": timedelta(days=365)}
FIELDS = {"fields": "v1,v2,v3", "agg": "avg,min,max"}


def load(devices: int, raw_hours: int, five_minute_days: int, hourly_days: int, hourly_devices: int, now) -> None:
    from django.db import connection

    from acuvim_console.protocol.quantities import QUANTITIES
    from telemetry.models import CONNECTION_CODES, SOURCE_CODES, FiveMinuteRollup, HourlyRollup, TelemetryRecord

    copy_devices(devices, lambda n: {"device_id": f"ACV-{n:012X}", "status": "online", "created_at": now,
                                     "updated_at": now})  # fmt: skip
    quote = connection.ops.quote_name
    readings = ", ".join(quote(q.column) for q in QUANTITIES)
    values = ", ".join("1000.0 + n * 0.01" if q.counter else f"{200 + i} + (n %% 7) * 0.1" for i, q in
                       enumerate(QUANTITIES))  # fmt: skip
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TelemetryRecord._meta.db_table} (device_id, ts, received_at, seq, ts_estimated, source, "
            f"connection, {readings}) "
            f"SELECT d.id, %(now)s - make_interval(secs => n * 5), %(now)s - make_interval(secs => n * 5), n, false, "
            f"%(source)s, %(connection)s, {values} FROM generate_series(0, %(steps)s - 1) AS n "
            "CROSS JOIN (SELECT id FROM devices_device) AS d ORDER BY n DESC",
            {"now": now, "steps": raw_hours * 720, "source": SOURCE_CODES["live"],
             "connection": CONNECTION_CODES["wifi"]},
        )
        print(f"raw readings: {cursor.rowcount:,} in {time.perf_counter() - started:.0f} s")
        for model, days, fleet in ((FiveMinuteRollup, five_minute_days, devices), (HourlyRollup, hourly_days,
                                                                                     hourly_devices)):  # fmt: skip
            started = time.perf_counter()
            fields = [f for f in model._meta.concrete_fields if f.column not in ("device_id", "bucket", "samples")]
            columns = ", ".join(quote(f.column) for f in fields)
            constants = ", ".join("1000.0" if "ep_" in f.column or "eq_" in f.column else "230.0 + (n %% 7)"
                                  for f in fields)  # fmt: skip
            seconds = model.BUCKET_SECONDS
            cursor.execute(
                f"INSERT INTO {model._meta.db_table} (device_id, bucket, samples, {columns}) "
                f"SELECT d.id, date_bin(%(size)s::interval, %(now)s, '2000-01-01'::timestamptz) "
                f"- make_interval(secs => n * {seconds}), {seconds // 5}, {constants} "
                "FROM generate_series(1, %(steps)s) AS n "
                "CROSS JOIN (SELECT id FROM devices_device ORDER BY device_id LIMIT %(fleet)s) AS d ORDER BY n DESC",
                {"size": f"{seconds} seconds", "now": now, "steps": days * 86400 // seconds, "fleet": fleet},
            )
            print(f"{model.__name__}: {cursor.rowcount:,} rows in {time.perf_counter() - started:.0f} s")
        for model in (TelemetryRecord, FiveMinuteRollup, HourlyRollup):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def timed(client, url: str, params: dict, headers: dict) -> tuple[float, float]:
    """Wall and this process's CPU milliseconds of one request (CPU says what the code costs under load)."""
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(url, params, **headers)
    elapsed, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed, cpu


def measure(requests: int) -> bool:
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from acuvim_console.operators.accounts import create_user_with_role
    from acuvim_console.operators.roles import VIEWER, sync_roles
    from devices.models import Device

    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    setup_test_environment()
    sync_roles()
    viewer = create_user_with_role(f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, VIEWER)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(viewer).access_token}"}
    client = Client()
    device = Device.objects.order_by("device_id").values_list("device_id", flat=True).first()
    url = f"/api/devices/{device}/telemetry/history"
    ok = True
    for name, span in RANGES.items():
        end = timezone.now()
        for label, extra in (("chart averages", {}), ("v1-v3 avg/min/max", FIELDS)):
            params = {"start": (end - span).isoformat(), "end": end.isoformat(), **extra}
            body = client.get(url, params, **headers).json()
            for _ in range(3):
                timed(client, url, params, headers)
            runs = [timed(client, url, params, headers) for _ in range(requests)]
            samples, cpu = sorted(wall for wall, _ in runs), statistics.median(cpu for _, cpu in runs)
            p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
            ok &= p95 < TARGET_MS
            print(f"{name:6s} {label:18s} {len(body['points']):4d} points ({body['bucket_seconds']} s, "
                  f"{sum(p['samples'] for p in body['points']):,} readings): p50 {statistics.median(samples):5.1f} ms "
                  f"p95 {p95:5.1f} ms (target < {TARGET_MS} ms: {'ok' if p95 < TARGET_MS else 'OVER'}); "
                  f"Django process CPU p50 {cpu:5.1f} ms")  # fmt: skip
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--raw-hours", type=int, default=12)
    parser.add_argument("--five-minute-days", type=int, default=30)
    parser.add_argument("--hourly-days", type=int, default=365)
    parser.add_argument("--hourly-devices", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--measure-only", action="store_true", help="time the requests on a database kept by --keep (no load)"
    )
    args = parser.parse_args()

    point_django_at(args.database)
    if args.measure_only:
        import django

        django.setup()
        measure(args.requests)
        return
    recreate_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from telemetry.maintenance import run_pass
    from telemetry.models import RollupWatermark
    from telemetry.partitions import compact_closed_partitions, schemes
    from telemetry.rollups import WATERMARK

    try:
        call_command("migrate", verbosity=0)
        now = timezone.now()
        run_pass(now)  # partitions as a running console has them
        load(args.devices, args.raw_hours, args.five_minute_days, args.hourly_days, args.hourly_devices, now)
        RollupWatermark.objects.update_or_create(
            name=WATERMARK, defaults={"received_until": now - timedelta(minutes=2)}
        )
        started = time.perf_counter()
        for name in ("FiveMinuteRollup", "HourlyRollup"):
            compact_closed_partitions(schemes()[name], now - timedelta(hours=2), cluster=True)
        print(f"closed rollup partitions clustered in {time.perf_counter() - started:.0f} s")
        measure(args.requests)
    finally:
        if not args.keep:
            drop_database(args.database, force=True)


if __name__ == "__main__":
    main()
