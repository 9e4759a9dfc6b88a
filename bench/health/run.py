"""Benchmark of the health sweep on PostgreSQL with a fleet of 100,000 devices.

    .venv/bin/python bench/health/run.py [--devices 100000] [--runs 5] [--keep]

Creates its own database (acuvim_bench_health, dropped at the end unless --keep), loads the fleet with
COPY, and times devices.health.sweep.sweep() in three situations:
  steady   every device heartbeated recently: nothing moves (the sweep that runs every 30 s all day)
  churn    1 % of the fleet degraded and 1 % offline in one sweep (a bad hour on GSM)
  outage   the whole fleet silent at once (the broker died): every device goes offline in one sweep
Heartbeat intervals are mixed (30, 60 and 300 s), so the per-device arithmetic is exercised.
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench.support import copy_devices, drop_database, migrated_database, point_django_at  # noqa: E402

DATABASE = "acuvim_bench_health"
point_django_at(DATABASE)
INTERVALS = (30, 60, 300)


def load_fleet(count: int, now) -> None:
    """COPY `count` online devices with fresh heartbeats; every column from the model's own defaults."""
    from django.db import connection

    from devices.models import Device

    copy_devices(
        count,
        lambda n: {
            "device_id": f"ACV-{n:012X}",
            "status": "online",
            "heartbeat_interval": INTERVALS[n % len(INTERVALS)],
            "last_heartbeat": now,
            "status_changed_at": now - timedelta(days=1),
            "created_at": now,
            "updated_at": now,
        },
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Device._meta.db_table}")


def set_silence(now, fraction_degraded: float, fraction_offline: float, count: int) -> None:
    """Put the fleet back online, then make chosen devices silent long enough to degrade or go offline."""
    from django.db import connection

    degraded_upto = int(count * fraction_degraded)
    offline_upto = degraded_upto + int(count * fraction_offline)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE devices_device SET status = 'online', last_heartbeat = %s, status_changed_at = %s",
            [now, now - timedelta(days=1)],
        )
        # 3.5 intervals of silence -> degraded; 10 -> offline.
        cursor.execute(
            "UPDATE devices_device SET last_heartbeat = %s - heartbeat_interval * interval '3.5 seconds' "
            "WHERE device_id < %s",
            [now, f"ACV-{degraded_upto:012X}"],
        )
        cursor.execute(
            "UPDATE devices_device SET last_heartbeat = %s - heartbeat_interval * interval '10 seconds' "
            "WHERE device_id >= %s AND device_id < %s",
            [now, f"ACV-{degraded_upto:012X}", f"ACV-{offline_upto:012X}"],
        )
        cursor.execute("DELETE FROM devices_devicestatuschange")
        cursor.execute("DELETE FROM alerts_alert")
        cursor.execute("VACUUM ANALYZE devices_device")  # each run starts without the previous run's dead rows


def timed_sweep(now) -> tuple[float, dict]:
    from devices.health.sweep import sweep

    started = time.perf_counter()
    moved = sweep(now=now)
    return time.perf_counter() - started, moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()

    migrated_database(DATABASE, quiet_logger="devices")
    from django.utils import timezone

    now = timezone.now()
    started = time.perf_counter()
    load_fleet(args.devices, now)
    print(f"loaded {args.devices:,} devices in {time.perf_counter() - started:.1f} s (COPY)")

    results = {}
    for name, degraded, offline in (("steady", 0.0, 0.0), ("churn", 0.01, 0.01), ("outage", 0.0, 1.0)):
        timings, moved = [], {}
        for _ in range(args.runs):
            set_silence(now, degraded, offline, args.devices)
            seconds, moved = timed_sweep(now)
            timings.append(seconds)
        results[name] = (statistics.median(timings), min(timings), max(timings), moved)

    print(f"health sweep over {args.devices:,} devices on PostgreSQL, {args.runs} runs each (median / min / max):")
    for name, (median, low, high, moved) in results.items():
        print(
            f"  {name:7s} {median * 1000:8.1f} ms  {low * 1000:8.1f} / {high * 1000:8.1f} ms   "
            f"moved: {moved['degraded']:,} degraded, {moved['offline']:,} offline"
        )
    if not args.keep:
        drop_database(DATABASE)


if __name__ == "__main__":
    main()
