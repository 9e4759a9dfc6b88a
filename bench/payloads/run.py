"""Decode-and-validate cost per telemetry record: the bridge's orjson + hand checks against msgspec.

    python bench/payloads/run.py --records 200000

The issue that hardened the bridge asked whether a validating decoder (msgspec) would beat orjson plus
the hand-written checks of acuvim_console.protocol.payloads on the hot path. Measured in one process on
the same full protocol record (bench/ingest's), best of five rounds each:

1. `json.loads` alone: the bare subscriber's ceiling in bench/ingest;
2. the hand-written path: `decode_payload` (orjson, shape pre-check) + `parse_telemetry`;
3. msgspec decoding straight into a typed Struct: validation in C, but unknown fields are dropped, and
   the protocol keeps them (newer firmware may add fields), so this alone cannot replace (2);
4. the bridge's path, `decode_telemetry`: the typed decode plus an orjson decode of the same bytes for
   the record as sent, falling back to (2) for whatever the typed decode refuses.

It prints microseconds per record and each path's cost relative to (1).
"""

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acuvim_console.settings")

import django  # noqa: E402

django.setup()

from acuvim_console.protocol.payloads import decode_payload, decode_telemetry, parse_telemetry, telemetry_types  # noqa: E402
from bench.ingest.run import record  # noqa: E402

NOW = datetime.now(UTC)


def per_record_us(work, raw: bytes, records: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(records):
            work(raw)
        best = min(best, time.perf_counter() - started)
    return best / records * 1e6


def hand_path(raw: bytes):
    return parse_telemetry(decode_payload(raw), NOW)


def bridge_path(raw: bytes):
    return decode_telemetry(raw, NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    raw = json.dumps(record(time.time(), 1)).encode()
    assert telemetry_types.decode(raw).v1 == 230.1  # the typed decode sees the fields
    paths = [
        ("json.loads only (bare subscriber)", json.loads),
        ("orjson + shape pre-check + hand-written checks", hand_path),
        ("msgspec typed Struct alone (drops unknown fields)", telemetry_types.decode),
        ("bridge: decode_telemetry (msgspec + orjson)", bridge_path),
    ]
    baseline = None
    print(f"{len(raw)}-byte record, {args.records:,} records a round, best of 5 rounds")
    for name, work in paths:
        us = per_record_us(work, raw, args.records)
        baseline = baseline or us
        print(f"{name:52s} {us:6.2f} us/record  {us / baseline:4.2f} x json.loads")


if __name__ == "__main__":
    main()
