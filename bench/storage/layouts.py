"""What the readings would cost in other row layouts: the same day of readings copied into candidates.

    .venv/bin/python bench/storage/layouts.py [--database acuvim_bench_storage]

Run after bench/storage/run.py (which leaves its database): the day's readings partition is copied, in
time order, into four tables of a scratch schema (dropped at the end), each with its (device, ts) key
built at fillfactor 100 as the maintenance pass leaves a closed day's key:
- today's layout (device UUID, `extra` JSON, NULL when there are no unknown fields, as in every row here);
- the same without `extra`: no NULL left in a full record, so no null bitmap in its header;
- an `integer` device key instead of the 16-byte UUID (in the 4-byte group, and in the key);
- both.
Prints each one's tuple size (pageinspect), heap and key bytes per reading. The rollups and the empty
partitions' indexes come on top (bench/storage/run.py prints them).
"""

import argparse
import sys
from pathlib import Path

import psycopg

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench.storage.run import DATABASE  # noqa: E402
from bench.support import database_url  # noqa: E402

SCHEMA = "bench_layouts"
READINGS = "telemetry_telemetryrecord"
CANDIDATES = {  # name: (device column, keeps extra)
    "today": ("device_id", True),
    "no_nulls": ("device_id", False),
    "integer_device": ("device_key", True),
    "integer_device_no_nulls": ("device_key", False),
}


def day_partition(db) -> str:
    """The readings partition holding the most rows (the benchmark's day)."""
    names = db.execute(
        "SELECT c.relname FROM pg_inherits JOIN pg_class AS c ON c.oid = inhrelid WHERE inhparent = %s::regclass",
        [READINGS],
    ).fetchall()
    return max((name for (name,) in names), key=lambda name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone())


def build(db, source: str, name: str, device: str, keeps_extra: bool, rows: int) -> str:
    columns = db.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [source],
    ).fetchall()
    types = dict(columns) | {"device_key": "integer"}
    by_width = {8: ("timestamp with time zone", "double precision"), 4: ("real", "integer"), 1: ("boolean", '"char"')}
    ordered = [c for c, t in columns if t in by_width[8]]
    ordered += (["device_key"] if device == "device_key" else []) + [c for c, t in columns if t in by_width[4]]
    ordered += (["device_id"] if device == "device_id" else []) + [c for c, t in columns if t in by_width[1]]
    ordered += ["extra"] if keeps_extra else []
    values = ", ".join("k.key" if c == "device_key" else f"r.{c}" for c in ordered)
    db.execute(f"CREATE TABLE {SCHEMA}.{name} ({', '.join(f'{c} {types[c]}' for c in ordered)})")
    db.execute(
        f"INSERT INTO {SCHEMA}.{name} ({', '.join(ordered)}) SELECT {values} "
        f'FROM "{source}" AS r JOIN {SCHEMA}.keys AS k ON k.id = r.device_id ORDER BY r.ts'
    )
    db.execute(f"CREATE UNIQUE INDEX ON {SCHEMA}.{name} ({device}, ts) WITH (fillfactor = 100)")
    heap, key = db.execute(
        f"SELECT pg_relation_size('{SCHEMA}.{name}'), pg_indexes_size('{SCHEMA}.{name}')"
    ).fetchone()
    (tuple_bytes,) = db.execute(
        f"SELECT lp_len FROM heap_page_items(get_raw_page('{SCHEMA}.{name}', 0)) LIMIT 1"
    ).fetchone()
    return (f"{name:24s} tuple {tuple_bytes} B, heap {heap / rows:6.1f} + key {key / rows:5.1f} "
            f"= {(heap + key) / rows:6.1f} bytes per reading")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=DATABASE)
    args = parser.parse_args()
    with psycopg.connect(database_url(args.database), autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        db.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        db.execute(f"CREATE SCHEMA {SCHEMA}")
        try:
            db.execute(f"CREATE TABLE {SCHEMA}.keys AS SELECT id, row_number() OVER (ORDER BY id)::int4 AS key "
                       "FROM devices_device")  # fmt: skip
            source = day_partition(db)
            (rows,) = db.execute(f'SELECT count(*) FROM "{source}"').fetchone()
            print(f"{rows:,} readings of {source}")
            for name, (device, keeps_extra) in CANDIDATES.items():
                print(build(db, source, name, device, keeps_extra, rows))
        finally:
            db.execute(f"DROP SCHEMA {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
