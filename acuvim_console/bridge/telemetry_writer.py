"""The telemetry hot path: collect messages into batches, validate, store each batch in one transaction, ack.

Batches close at MQTT_BATCH_SIZE messages or MQTT_BATCH_MAX_WAIT_MS after their first message, whichever
comes first, so a quiet fleet is not kept waiting and a busy one is written in large statements. The
queue from the MQTT thread is bounded: when the database is slow or away this thread stops taking
messages, the broker's in-flight window (our Receive Maximum, no larger than the queue) fills with
unacknowledged messages and the broker keeps the rest. Acknowledgements go out only after the commit.
"""

import json
import logging
import threading
import time
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter

from django.conf import settings
from django.db import connection

from acuvim_console.bridge.batch_queue import BatchQueue
from acuvim_console.bridge.device_order import NOTHING, DeviceOrder
from acuvim_console.bridge.directory import DeviceDirectory
from acuvim_console.bridge.messages import (
    BrokerSession,
    Inbound,
    Stopping,
    describe_failure,
    retry_while_database_down,
)
from acuvim_console.bridge.stall_watch import StallWatch
from acuvim_console.core import metrics as m
from acuvim_console.protocol.enums import TelemetrySource
from acuvim_console.protocol.payloads import PayloadError, decode_telemetry, latest_acceptable_ts
from acuvim_console.protocol.reasons import RejectReason
from alerts.rules import evaluate_readings
from devices.choices import UNACCEPTED_STATUSES
from telemetry.ingest import Reading, store_readings

log = logging.getLogger(__name__)


# How often the writer looks again at readings held behind their device's registration.
HELD_POLL_S = 0.01
IDLE_POLL_S = 0.2


class TelemetryWriter:
    """One thread: readings are taken in arrival order, which the per-device ordering relies on."""

    def __init__(
        self,
        session: BrokerSession,
        directory: DeviceDirectory,
        order: DeviceOrder,
        stop: threading.Event,
        stalls: StallWatch,
    ):
        self.session = session
        self.directory = directory
        self.order = order
        self.stop = stop
        self.batch_size = settings.MQTT_BATCH_SIZE
        self.max_wait = settings.MQTT_BATCH_MAX_WAIT_MS / 1000.0
        self.attempts = max(1, settings.MQTT_HANDLER_ATTEMPTS)
        self.queue = BatchQueue(settings.MQTT_QUEUE_SIZE)
        self._held: list[Inbound] = []  # readings waiting for their device's earlier registration
        self.busy = stalls.worker("telemetry")
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.revive()

    def revive(self) -> int:
        """(Re)start the writer thread if it is not running; the bridge's supervisor calls this."""
        if self.threads and self.threads[0].is_alive():
            return 0
        self.threads = [threading.Thread(target=self._run, name="mqtt-telemetry-writer", daemon=True)]
        self.threads[0].start()
        return 1

    def submit(self, message: Inbound) -> bool:
        """Called by the MQTT thread; blocks while the queue is full (back-pressure), gives up on stop."""
        return self.queue.put_unless_stopped(message, self.stop)

    def drop_redelivered(self) -> None:
        """Take out of the queue what the resumed session redelivers (the MQTT thread, on connecting)."""
        m.REDELIVERED_SKIPPED.inc(len(self.queue.discard(self.session.redelivered)))

    def _run(self) -> None:
        try:
            while not (self.stop.is_set() and not self.queue):
                idle = HELD_POLL_S if self._held else IDLE_POLL_S
                batch = self.queue.take(self.batch_size, self.max_wait, idle_timeout=idle)
                if batch or self._held:
                    self._process(batch)
        except Stopping:
            log.info("telemetry writer stopped with a batch unwritten; the broker will redeliver it")
        finally:
            connection.close()

    def _process(self, batch: list[Inbound]) -> None:
        """Handle what may be handled now, hold the rest; progress is announced even if this fails."""
        ready, held_from = self._release(batch)
        try:
            if ready:
                self.busy.begin(lambda: f"{len(ready)} readings, arrivals {ready[0].arrival} to {ready[-1].arrival}")
                self._handle(ready)
                self.session.acknowledge(ready)
        finally:
            self.busy.end()
            self.order.telemetry_progress(batch[-1].arrival if batch else NOTHING, held_from)

    def _release(self, batch: list[Inbound]) -> tuple[list[Inbound], dict[str, int]]:
        """Readings free of earlier registrations, in arrival order; the others stay in `_held`.

        Readings the broker redelivers after a resumed session are dropped here: their copies follow.
        """
        waiting = self._not_redelivered(self._held)
        batch = self._not_redelivered(batch)
        if not waiting and not [message for message in batch if message.after != NOTHING]:
            return batch, {}
        ready, held, held_from = [], [], {}
        for message in [*waiting, *batch]:
            device_id = message.device_id
            if device_id in held_from or not self.order.telemetry_ready(device_id, message.after):
                held_from.setdefault(device_id, message.arrival)
                held.append(message)
            else:
                ready.append(message)
        if len(held) > len(waiting):
            m.HELD_FOR_ORDER.inc(len(held) - len(waiting))
        self._held = held
        return ready, held_from

    def _not_redelivered(self, messages: list[Inbound]) -> list[Inbound]:
        kept = [message for message in messages if not self.session.redelivered(message)]
        if len(kept) < len(messages):
            m.REDELIVERED_SKIPPED.inc(len(messages) - len(kept))
        return kept

    def _handle(self, messages: list[Inbound]) -> None:
        """Parse and store; if storing fails for a reason other than an outage, isolate the message at fault."""
        parsed = self._parse(messages)
        if not parsed:
            return
        try:
            retry_while_database_down(lambda: self._store(parsed), self.stop, "storing telemetry")
        except Stopping:
            raise
        except Exception:
            m.HANDLER_ERRORS.inc()
            log.exception("a telemetry batch of %d messages failed; storing them one by one", len(messages))
            for message, items in groupby(parsed, key=itemgetter(0)):
                self._store_alone(message, list(items))

    def _store_alone(self, message: Inbound, parsed: list[tuple[Inbound, dict, str]]) -> None:
        """One message's records, tried MQTT_HANDLER_ATTEMPTS times, then dead-lettered (and acknowledged)."""
        for attempt in range(1, self.attempts + 1):
            try:
                retry_while_database_down(lambda: self._store(parsed), self.stop, "storing telemetry")
                return
            except Stopping:
                raise
            except Exception as exc:
                m.HANDLER_ERRORS.inc()
                if attempt == self.attempts:
                    log.exception("%s: telemetry on %s failed %d times", message.device_id, message.topic, attempt)
                    message.reject(RejectReason.HANDLER_ERROR, describe_failure(exc))

    def _parse(self, batch: list[Inbound]) -> list[tuple[Inbound, dict, str]]:
        """Valid records with their message and stored JSON text; everything else is reported and dropped."""
        parsed = []
        limit, latest = settings.MQTT_MAX_PAYLOAD_BYTES, latest_acceptable_ts()
        for message in batch:
            try:
                document, records, errors = decode_telemetry(message.payload, message.received_at, latest, limit)
            except PayloadError as exc:
                message.reject(exc.reason, exc.message)
                continue
            except Exception as exc:  # a gap in the checks: this message is refused, the batch goes on
                log.exception("%s: telemetry on %s broke the parser", message.device_id, message.topic)
                message.reject(RejectReason.HANDLER_ERROR, describe_failure(exc))
                continue
            for error in errors:
                message.reject(error.reason, error.message)
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
        stored = store_readings(readings)
        _observe_batch(len(readings), stored, time.monotonic() - started, _live_lag(readings))
        evaluate_readings(readings)  # alert rules, after the commit (alerts.rules; never raises)
        for message in unknown:
            message.reject(RejectReason.UNKNOWN_DEVICE, "device never registered")
        for status in dropped:
            m.MESSAGES_DROPPED.labels(status).inc()


def _observe_batch(offered: int, stored: int, commit_seconds: float, lag_seconds: float | None) -> None:
    """One committed batch in the registry: a handful of updates per batch, none per message."""
    m.BATCH_ROWS.observe(offered)
    m.COMMIT_SECONDS.observe(commit_seconds)
    if lag_seconds is not None:
        m.LAG_SECONDS.observe(lag_seconds)
    m.ROWS_STORED.inc(stored)
    m.DUPLICATES.inc(offered - stored)


def _live_lag(readings: list[Reading]) -> float | None:
    """Seconds between the newest live reading's device time and now (SD replays are late on purpose)."""
    newest = max(
        (r.ts for r in readings if r.source == TelemetrySource.LIVE and not r.ts_estimated),
        default=None,
    )
    return None if newest is None else (datetime.now(UTC) - newest).total_seconds()
