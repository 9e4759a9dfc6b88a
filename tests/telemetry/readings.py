"""Readings for telemetry tests, stored through the real ingest path (telemetry.ingest.store_readings)."""

import json
from datetime import datetime, timedelta

from telemetry.ingest import Reading, store_readings
from tests.bridge import messages


def store(device, ts: datetime, received_at: datetime | None = None, source: str = "live", **fields) -> None:
    store_many(device, [(ts, fields)], received_at=received_at, source=source)


def store_many(device, points, received_at: datetime | None = None, source: str = "live") -> int:
    """`points`: (ts, overriding fields) pairs; each reading is received `received_at` or at its own ts."""
    readings = []
    for n, (ts, fields) in enumerate(points):
        record = messages.reading(ts.timestamp(), seq=n + 1, src=source, **fields)
        readings.append(
            Reading(
                device_pk=device.pk,
                device_id=device.device_id,
                ts=ts,
                ts_estimated=False,
                received_at=received_at or ts,
                source=source,
                connection="wifi",
                seq=n + 1,
                record=record,
                data_json=json.dumps(record),
            )
        )
    return store_readings(readings)


def every(start: datetime, seconds: int, count: int) -> list[datetime]:
    return [start + timedelta(seconds=seconds * n) for n in range(count)]
