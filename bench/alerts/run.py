"""Benchmark of the periodic pass of fleet-wide health rules on PostgreSQL with 100,000 devices.

    .venv/bin/python bench/alerts/run.py [--devices 100000] [--offline 0.01] [--runs 5] [--keep]

Creates its own database (acuvim_bench_alerts, dropped at the end unless --keep), loads the fleet with
COPY (a fraction `--offline` of it offline for an hour, the rest online) and one fleet-wide health rule,
"offline for more than 10 minutes", then times the rule's part of the pass (`_evaluate_health`) in two
situations, each with the pass as it is and with the full scan it replaced, in the same run:
  crossing  the offline devices have just crossed the threshold: every one opens its alert
  steady    the same devices stay offline, their alerts open: nothing moves (the pass that runs every 5 s)
The full scan is the previous pass (up to commit f531795): every device of the scope read into Python,
its value computed and stepped. It is reproduced here, from the same helpers, only as the baseline.
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

DATABASE = "acuvim_bench_alerts"
point_django_at(DATABASE)


def load_fleet(count: int, offline_fraction: float, now) -> int:
    """COPY the fleet; every n-th device offline since an hour ago. Returns how many are offline."""
    from django.db import connection

    from devices.models import Device

    every = max(1, round(1 / offline_fraction)) if offline_fraction else 0

    def values(n: int) -> dict:
        away = every and n % every == 0
        return {
            "device_id": f"ACV-{n:012X}",
            "status": "offline" if away else "online",
            "last_heartbeat": now - timedelta(hours=1) if away else now,
            "status_changed_at": now - timedelta(hours=1) if away else now - timedelta(days=1),
            "heap_free": 90_000,
            "created_at": now,
            "updated_at": now,
        }

    copy_devices(count, values)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Device._meta.db_table}")
    return Device.objects.filter(status="offline").count()


def full_scan(rule, compiled, now) -> int:
    """The baseline: the pass before it chose its devices in SQL (every device of the scope, in Python)."""
    from alerts.models import AlertRuleState
    from alerts.rules import _HEALTH_COLUMNS, StateView, health_scope, step_devices

    rows = list(health_scope(rule).values(*_HEALTH_COLUMNS))
    states = {row.device_id: StateView.of(row) for row in AlertRuleState.objects.filter(rule=rule)}
    return step_devices(rule, compiled, rows, states, now)


def reset_alerts() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM alerts_alertrulestate")
        cursor.execute("DELETE FROM alerts_alert")
        cursor.execute("VACUUM ANALYZE alerts_alert")
        cursor.execute("VACUUM ANALYZE alerts_alertrulestate")


def timed(function, *args) -> tuple[float, int]:
    started = time.perf_counter()
    transitions = function(*args)
    return time.perf_counter() - started, transitions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--offline", type=float, default=0.01, help="fraction of the fleet offline")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()

    migrated_database(DATABASE, quiet_logger="alerts")
    from django.utils import timezone

    from alerts.models import AlertRule
    from alerts.rules import CompiledRule, _evaluate_health

    now = timezone.now()
    started = time.perf_counter()
    offline = load_fleet(args.devices, args.offline, now)
    print(f"loaded {args.devices:,} devices ({offline:,} offline) in {time.perf_counter() - started:.1f} s (COPY)")
    rule = AlertRule.objects.create(
        name="Offline 10 min", field="offline_s", op=">", threshold=600, severity="critical"
    )
    compiled = CompiledRule.of(rule)
    passes = {"chosen in SQL": _evaluate_health, "full scan (before)": full_scan}

    results = {}
    for _ in range(args.runs):
        for name, function in passes.items():  # alternated, so both see the same machine
            reset_alerts()
            crossing = timed(function, rule, compiled, now)
            steady = timed(function, rule, compiled, now + timedelta(seconds=5))
            results.setdefault(name, []).append((crossing, steady))

    print(
        f"health rule pass, 1 fleet rule over {args.devices:,} devices ({offline:,} offline), "
        f"{args.runs} runs each (median / min / max):"
    )
    for name, runs in results.items():
        for index, situation in enumerate(("crossing", "steady")):
            timings = [run[index][0] for run in runs]
            moved = runs[-1][index][1]
            print(
                f"  {name:19s} {situation:8s} {statistics.median(timings) * 1000:9.1f} ms  "
                f"{min(timings) * 1000:9.1f} / {max(timings) * 1000:9.1f} ms   transitions: {moved:,}"
            )
    if not args.keep:
        drop_database(DATABASE)


if __name__ == "__main__":
    main()
