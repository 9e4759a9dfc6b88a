"""Rule evaluation alone: CPU per reading of alerts.rules.evaluate_readings, N rules over D devices.

    .venv/bin/python bench/alerts/evaluate.py [--devices 1000] [--rules 1000] [--batch 1000] [--rounds 5] [--keep]

bench/ingest/run.py --rules gives the rules' share of the bridge's CPU as the difference of two drains of
the same messages; on a loaded machine that difference follows whatever else ran during each drain.
This times the evaluation itself, in one process, on the same kind of fleet, rules (create_rules) and
records: batches of `--batch` readings (the writer's MQTT_BATCH_SIZE), the devices reporting in turn,
device time moving 5 s a round of the fleet. The first batch (the rule index built, the breaching rules'
states written) is left out; of `--rounds` rounds of BATCHES_PER_ROUND batches the best is reported, the
figure least disturbed by other work. Divided by the bridge's CPU per message (bench/ingest) it is the
rules' share.
"""

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench.ingest.run import create_devices, create_rules, fresh_database, record  # noqa: E402
from bench.support import drop_database, point_django_at  # noqa: E402

DATABASE = "acuvim_bench_rules"


BATCHES_PER_ROUND = 30


def readings(devices: list[tuple], batch: int, first: int, count: int, start: datetime) -> list[list]:
    """Batches `first` to `first + count` of `batch` readings: the fleet in turn, 5 s of device time a round."""
    from telemetry.ingest import Reading

    made = []
    for n in range(first * batch, (first + count) * batch):
        pk, device_id = devices[n % len(devices)]
        ts = start + timedelta(seconds=5 * (n // len(devices)))
        made.append(
            Reading(
                device_pk=pk, device_id=device_id, ts=ts, ts_estimated=False, received_at=ts, source="live",
                connection="wifi", seq=n, record=record(ts.timestamp(), n), data_json="",
            )
        )  # fmt: skip
    return [made[k : k + batch] for k in range(0, len(made), batch)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 60 batches each")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    url = fresh_database(args.database)
    create_devices(url, args.devices)
    create_rules(url, args.rules, args.devices)
    point_django_at(args.database)
    import django

    django.setup()
    import logging

    from alerts.rules import evaluate_readings
    from devices.models import Device

    logging.disable(logging.INFO)  # a line per alert the breaching rules open
    devices = list(Device.objects.order_by("device_id").values_list("pk", "device_id"))
    start = datetime.now(UTC)
    evaluate_readings(readings(devices, args.batch, 0, 1, start)[0])
    best = float("inf")
    for n in range(args.rounds):
        batches = readings(devices, args.batch, 1 + n * BATCHES_PER_ROUND, BATCHES_PER_ROUND, start)
        started = time.process_time()
        for batch in batches:
            evaluate_readings(batch)
        best = min(best, (time.process_time() - started) / (BATCHES_PER_ROUND * args.batch))
    print(
        f"{args.rules} rules over {len(devices)} devices, batches of {args.batch}: evaluate_readings "
        f"{1e6 * best:.2f} us CPU per reading (best of {args.rounds} rounds of {BATCHES_PER_ROUND * args.batch})"
    )
    if not args.keep:
        drop_database(args.database)


if __name__ == "__main__":
    main()
