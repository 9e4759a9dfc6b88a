"""Storage benchmark: bytes per reading after a day of a small fleet, the maintenance pass's cost, a year's projection.

    .venv/bin/python bench/storage/run.py [--devices 20] [--interval 5] [--hours 24]

One run, one machine:
1. a fresh PostgreSQL database (acuvim_bench_storage, migrated from scratch) with DEVICES accepted
   devices, and one maintenance pass, so the day's partition exists as it would in production;
2. a private Mosquitto; `--hours` of full protocol records (every quantity, like bench/ingest) per
   device at `--interval` seconds, for the day before yesterday, are published and drained by
   `manage.py mqtt_bridge`, the real ingest path;
3. one maintenance pass in this process (rollups of the whole day, retention), timed: process CPU
   and the PostgreSQL backend's CPU, scaled to an hour of a 1,000-device fleet;
4. every telemetry table and index (all partitions, both rollups, TOAST) summed and divided by the
   readings stored; then a year of 1,000 devices at 5 s under the default retention (raw 7 days,
   5-minute 30 days, hourly 365 days, plus one partition of slack each) projected from the
   measured bytes per row.

Target: <= 300 bytes per reading on plain PostgreSQL (the layout before keeping the whole record as
JSON measured ~1,060), and a year of 1,000 devices within the seed's 50 GB server.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench.ingest.run import (  # noqa: E402
    BRIDGE_CLIENT_ID,
    create_devices,
    create_session,
    device_ids,
    fresh_database,
    publish_records,
    record,
    run_bridge,
)
from bench.support import point_django_at  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

DATABASE = "acuvim_bench_storage"
TABLES = ("telemetry_telemetryrecord", "telemetry_fiveminuterollup", "telemetry_hourlyrollup")
FLEET, YEAR_DEVICES_INTERVAL = 1000, 5
SERVER_DISK_GB = 50


def publish_day(port: int, ids: list[str], day: datetime, interval: int, hours: int) -> int:
    """Every device's records for `hours` from `day`, `interval` seconds apart, in time order."""
    steps = hours * 3600 // interval
    start = day.timestamp()
    records = ((device_id, record(start + step * interval, step)) for step in range(steps) for device_id in ids)
    publish_records(port, records, client_id="bench-storage-publisher")
    return steps * len(ids)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_maintenance() -> tuple[list[str], float, float]:
    """One pass in this process: its lines, the process's CPU seconds and its PostgreSQL backend's."""
    from django.db import connection

    from telemetry.maintenance import run_pass

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    own, backend = process_cpu(), backend_cpu(pid)
    report = run_pass()
    return report.lines, process_cpu() - own, backend_cpu(pid) - backend


def sizes() -> dict[str, dict]:
    """Per table: rows, and heap / index / TOAST bytes summed over all its partitions."""
    from django.db import connection

    result = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                "SELECT coalesce(sum(pg_relation_size(c.oid)), 0), coalesce(sum(pg_indexes_size(c.oid)), 0), "
                "coalesce(sum(pg_total_relation_size(c.oid) - pg_relation_size(c.oid) - pg_indexes_size(c.oid)), 0) "
                "FROM pg_inherits JOIN pg_class c ON c.oid = pg_inherits.inhrelid "
                "WHERE pg_inherits.inhparent = %s::regclass",
                [table],
            )
            heap, indexes, toast = (int(value) for value in cursor.fetchone())
            cursor.execute(f"SELECT count(*) FROM {table}")
            (rows,) = cursor.fetchone()
            result[table] = {"rows": rows, "heap": heap, "indexes": indexes, "toast": toast}
    return result


# Bytes a rollup row adds to its primary key index: (uuid, timestamptz) entries in half-full pages.
ROLLUP_KEY_BYTES = 70


def projection(measured: dict[str, dict]) -> tuple[dict[str, float], float]:
    """GB for a year of FLEET devices at 5 s under the default retention (one partition of slack each),
    and the most days of raw readings that fit the server next to the rollups.

    Readings: their measured bytes per row, everything included. Rollups: their heap bytes per row plus
    their key entry; the few hundred rows of a one-day run are dwarfed by the fixed size of empty
    partitions' indexes, which a year does not multiply.
    """
    raw = measured["telemetry_telemetryrecord"]
    per_reading = (raw["heap"] + raw["indexes"] + raw["toast"]) / max(1, raw["rows"])
    per_row = {
        table: measured[table]["heap"] / max(1, measured[table]["rows"]) + ROLLUP_KEY_BYTES
        for table in ("telemetry_fiveminuterollup", "telemetry_hourlyrollup")
    }
    readings_per_day = FLEET * 86400 / YEAR_DEVICES_INTERVAL
    year = {
        "telemetry_telemetryrecord": per_reading * readings_per_day * (7 + 1) / 1e9,
        "telemetry_fiveminuterollup": per_row["telemetry_fiveminuterollup"] * FLEET * 288 * (30 + 7) / 1e9,
        "telemetry_hourlyrollup": per_row["telemetry_hourlyrollup"] * FLEET * 24 * (365 + 30) / 1e9,
    }
    rollups = year["telemetry_fiveminuterollup"] + year["telemetry_hourlyrollup"]
    raw_days = (SERVER_DISK_GB - rollups) / (per_reading * readings_per_day / 1e9) - 1
    return year, raw_days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--database", default=DATABASE)
    args = parser.parse_args()

    ids = device_ids(args.devices)
    database_url = fresh_database(args.database)
    create_devices(database_url, args.devices)
    point_django_at(args.database)
    import django

    django.setup()
    timed_maintenance()  # the partitions a running console has
    # Two days back: the day is over for longer than TELEMETRY_COMPACT_AFTER_HOURS whatever the hour of
    # the run, so the pass treats its partition as the console would the morning after.
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    with tempfile.TemporaryDirectory() as workdir:
        broker = Mosquitto(workdir=Path(workdir)).start()
        try:
            create_session(broker.port, BRIDGE_CLIENT_ID, ["acuvim/+/telemetry"])
            started = time.time()
            published = publish_day(broker.port, ids, day, args.interval, args.hours)
            print(f"published {published:,} records ({args.devices} devices, {args.hours} h at {args.interval} s) "
                  f"in {time.time() - started:.0f} s")  # fmt: skip
            bridge = run_bridge(broker.port, args.database, database_url, published)
            print(f"bridge stored {bridge['rows']:,} readings at {bridge['rate']:,.0f} rows/s")
        finally:
            broker.stop()

    lines, own_cpu, db_cpu = timed_maintenance()
    for line in lines:
        print(f"  maintenance: {line}")
    device_hours = args.devices * args.hours
    per_fleet_hour = (own_cpu + db_cpu) * FLEET / device_hours
    print(f"maintenance pass: {own_cpu:.2f} s CPU in Python + {db_cpu:.2f} s PostgreSQL for {device_hours} "
          f"device-hours = {per_fleet_hour:.1f} CPU s per hour of a {FLEET:,}-device fleet")  # fmt: skip

    measured = sizes()
    readings = measured["telemetry_telemetryrecord"]["rows"]
    total = sum(sum(v for k, v in m.items() if k != "rows") for m in measured.values())
    for table, m in measured.items():
        print(f"  {table}: {m['rows']:,} rows, heap {m['heap']:,} B, indexes {m['indexes']:,} B, "
              f"toast {m['toast']:,} B")  # fmt: skip
    print(f"disk bytes per reading (all telemetry tables, indexes, TOAST / readings): {total / max(1, readings):.0f} B")
    year, raw_days = projection(measured)
    print(f"a year of {FLEET:,} devices at 5 s, default retention: "
          + ", ".join(f"{table} {gb:.1f} GB" for table, gb in year.items())
          + f" = {sum(year.values()):.1f} GB of a {SERVER_DISK_GB} GB server; "
          f"raw readings that fit beside the rollups: {raw_days:.1f} days")  # fmt: skip
    summary = {"readings": readings, "bytes_per_reading": total / max(1, readings), "tables": measured,
               "maintenance_cpu_s": own_cpu + db_cpu, "per_fleet_hour_cpu_s": per_fleet_hour,
               "year_gb": year, "raw_days_that_fit": raw_days}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
