"""The telemetry hot path: collect messages into batches, validate, store each batch in one transaction, ack.

Batches close at MQTT_BATCH_SIZE messages or MQTT_BATCH_MAX_WAIT_MS after their first message, whichever
comes first, so a quiet fleet is not kept waiting and a busy one is written in large statements. The
queue from the MQTT thread is bounded: when the database is slow or away this thread stops taking
messages, the queue fills, the MQTT thread blocks, and the broker keeps the rest (its in-flight window is
bounded by our Receive Maximum). Acknowledgements go out only after the commit.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, connection

from acuvim_console.mqtt.batch_queue import BatchQueue
from acuvim_console.mqtt.directory import DeviceDirectory
from acuvim_console.mqtt.inbound import DATABASE_OUTAGE_ERRORS, Inbound, Stopping, retry_while_database_down
from acuvim_console.mqtt.metrics import metrics
from acuvim_console.mqtt.payloads import (
    PayloadError,
    decode_payload,
    latest_acceptable_ts,
    parse_telemetry,
)
from acuvim_console.mqtt.reasons import RejectReason, report_rejection
from alerts.rules import evaluate_readings
from devices.choices import UNACCEPTED_STATUSES
from telemetry.ingest import Reading, store_readings
from telemetry.models import TelemetrySource

log = logging.getLogger(__name__)


class TelemetryWriter:
    def __init__(self, acknowledge: Callable[[list[Inbound]], None], directory: DeviceDirectory, stop: threading.Event):
        self.acknowledge = acknowledge
        self.directory = directory
        self.stop = stop
        self.batch_size = settings.MQTT_BATCH_SIZE
        self.max_wait = settings.MQTT_BATCH_MAX_WAIT_MS / 1000.0
        self.queue = BatchQueue(settings.MQTT_QUEUE_SIZE)
        # Several writers can overlap parsing with database waits; one is the default (see settings).
        self.threads = [
            threading.Thread(target=self._run, name=f"mqtt-telemetry-writer-{n}", daemon=True)
            for n in range(max(1, settings.MQTT_TELEMETRY_WRITERS))
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def submit(self, message: Inbound) -> bool:
        """Called by the MQTT thread; blocks while the queue is full (back-pressure), gives up on stop."""
        while not self.queue.put(message, timeout=0.5):
            if self.stop.is_set():
                return False
        return True

    def _run(self) -> None:
        try:
            while not (self.stop.is_set() and not self.queue):
                batch = self.queue.take(self.batch_size, self.max_wait, idle_timeout=0.2)
                if batch:
                    self._process(batch)
        except Stopping:
            log.info("telemetry writer stopped with a batch unwritten; the broker will redeliver it")
        finally:
            connection.close()

    def _process(self, batch: list[Inbound]) -> None:
        parsed = self._parse(batch)
        if parsed:
            retry_while_database_down(lambda: self._store(parsed), self.stop, "storing telemetry")
        self.acknowledge(batch)

    def _parse(self, batch: list[Inbound]) -> list[tuple[Inbound, dict, str]]:
        """Valid records with their message and stored JSON text; everything else is reported and dropped."""
        parsed = []
        limit, latest = settings.MQTT_MAX_PAYLOAD_BYTES, latest_acceptable_ts()
        for message in batch:
            try:
                document = decode_payload(message.payload, limit)
                records, errors = parse_telemetry(document, message.received_at, latest)
            except PayloadError as exc:
                report_rejection(message.device_id, message.topic, exc.reason, exc.message)
                continue
            for error in errors:
                report_rejection(message.device_id, message.topic, error.reason, error.message)
            if type(document) is dict:  # one record, stored as sent; decode_payload has checked it is UTF-8
                parsed.append((message, records[0], message.payload.decode()))
            else:
                parsed.extend((message, record, json.dumps(record["record"])) for record in records)
        return parsed

    def _store(self, parsed: list[tuple[Inbound, dict, str]]) -> None:
        devices = self.directory.resolve({message.device_id for message, _, _ in parsed})
        readings, unknown, dropped = [], [], []
        for message, record, text in parsed:
            pk, status = devices.get(message.device_id, (None, None))
            if pk is None:
                unknown.append(message)
            elif status in UNACCEPTED_STATUSES:
                dropped.append(status)
            else:
                readings.append(
                    Reading(
                        device_pk=pk,
                        device_id=message.device_id,
                        ts=record["ts"],
                        ts_estimated=record["ts_estimated"],
                        received_at=message.received_at,
                        source=record["source"],
                        connection=record["connection"],
                        seq=record["seq"],
                        record=record["record"],
                        data_json=text,
                    )
                )
        started = time.monotonic()
        stored = self._write(readings)
        metrics.observe_batch(len(readings), stored, time.monotonic() - started, _live_lag(readings))
        evaluate_readings(readings)  # alert rules, after the commit (alerts.rules; never raises)
        for message in unknown:
            report_rejection(message.device_id, message.topic, RejectReason.UNKNOWN_DEVICE, "device never registered")
        for status in dropped:
            metrics.count_dropped(status)

    def _write(self, readings: list[Reading]) -> int:
        try:
            return store_readings(readings)
        except DatabaseError as exc:
            if isinstance(exc, DATABASE_OUTAGE_ERRORS):
                raise
            return self._write_one_by_one(readings)

    def _write_one_by_one(self, readings: list[Reading]) -> int:
        """A batch the database refused for its content: store what it accepts, report the record it won't."""
        stored = 0
        for reading in readings:
            try:
                stored += store_readings([reading])
            except DatabaseError as exc:
                if isinstance(exc, DATABASE_OUTAGE_ERRORS):
                    raise
                metrics.incr("handler_errors")
                log.exception("%s: telemetry record at %s refused by the database", reading.device_id, reading.ts)
        return stored


def _live_lag(readings: list[Reading]) -> float | None:
    """Seconds between the newest live reading's device time and now (SD replays are late on purpose)."""
    newest = max(
        (r.ts for r in readings if r.source == TelemetrySource.LIVE and not r.ts_estimated),
        default=None,
    )
    return None if newest is None else (datetime.now(UTC) - newest).total_seconds()
