"""Registration, status, heartbeat, alert and command-response messages: one at a time, in order per device.

A few worker threads share the load; every device is pinned to one of them (by a hash of its id), so a
device's messages are applied in the order they arrived while devices do not wait for each other. Each
message runs in its own transaction and is acknowledged after it. A message also waits for its device's
earlier telemetry (acuvim_console.bridge.device_order). Bad payloads are reported and acknowledged; a handler
that fails is retried MQTT_HANDLER_ATTEMPTS times, then logged with its traceback, counted,
dead-lettered and acknowledged, and never stops the others; a database outage is waited out, never
dropped.
"""

import logging
import threading
import zlib

from django.conf import settings
from django.db import connection, transaction

from acuvim_console.bridge.batch_queue import BatchQueue
from acuvim_console.bridge.device_order import DeviceOrder
from acuvim_console.bridge.directory import DeviceDirectory
from acuvim_console.bridge.messages import (
    BrokerSession,
    Inbound,
    Stopping,
    describe_failure,
    retry_while_database_down,
)
from acuvim_console.bridge.stall_watch import Busy, StallWatch
from acuvim_console.core import metrics as m
from acuvim_console.protocol import payloads
from acuvim_console.protocol.reasons import RejectReason
from acuvim_console.protocol.topics import TopicKind
from alerts.device_alerts import handle_device_alert
from devices.choices import UNACCEPTED_STATUSES, DeviceStatus
from devices.control.commands import handle_response
from devices.health.heartbeats import handle_heartbeat
from devices.health.presence import handle_status
from devices.models import Device
from devices.registry.registration import handle_registration

log = logging.getLogger(__name__)

# Topic kind -> (validator, handler in the app that owns the data).
ROUTES = {
    TopicKind.STATUS: (payloads.parse_status, handle_status),
    TopicKind.HEARTBEAT: (payloads.parse_heartbeat, handle_heartbeat),
    TopicKind.ALERTS: (payloads.parse_alert, handle_device_alert),
    TopicKind.RESP: (payloads.parse_response, handle_response),
}


class ControlWorkers:
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
        self.attempts = max(1, settings.MQTT_HANDLER_ATTEMPTS)
        count = max(1, settings.MQTT_CONTROL_WORKERS)
        self.queues = [BatchQueue(settings.MQTT_QUEUE_SIZE) for _ in range(count)]
        self.busy = [stalls.worker(f"control-{n}") for n in range(count)]
        self.threads: list[threading.Thread] = [threading.Thread() for _ in self.queues]  # not started yet

    def start(self) -> None:
        self.revive()

    def revive(self) -> int:
        """(Re)start every worker thread that is not running; the bridge's supervisor calls this."""
        started = 0
        for n, inbox in enumerate(self.queues):
            if not self.threads[n].is_alive():
                self.threads[n] = threading.Thread(
                    target=self._run, args=(inbox, self.busy[n]), name=f"mqtt-control-{n}", daemon=True
                )
                self.threads[n].start()
                started += 1
        return started

    def queued(self) -> int:
        """Messages waiting for a worker, over all queues (the queue-depth gauge reads it when scraped)."""
        return sum(len(inbox) for inbox in self.queues)

    def submit(self, message: Inbound) -> bool:
        """Called by the MQTT thread; blocks while the device's queue is full, gives up on stop."""
        shard = zlib.crc32(message.device_id.encode()) % len(self.queues) if message.device_id else 0
        return self.queues[shard].put_unless_stopped(message, self.stop)

    def drop_redelivered(self) -> None:
        """Take out of the queues what the resumed session redelivers (the MQTT thread, on connecting)."""
        for inbox in self.queues:
            dropped = inbox.discard(self.session.redelivered)
            for message in dropped:
                self.order.control_done(message.device_id, message.arrival)
            m.REDELIVERED_SKIPPED.inc(len(dropped))

    def _run(self, inbox: BatchQueue, busy: Busy) -> None:
        try:
            while not (self.stop.is_set() and not inbox):
                for message in inbox.take(1, 0.0, idle_timeout=0.2):
                    busy.begin(lambda message=message: self._describe(message))
                    try:
                        self._work_on(message)
                    finally:
                        busy.end()
        except Stopping:
            log.info("control worker stopped with a message unhandled; the broker will redeliver it")
        finally:
            connection.close()

    def _work_on(self, message: Inbound) -> None:
        try:
            if self.session.redelivered(message):
                m.REDELIVERED_SKIPPED.inc()
                return
            if not self.order.wait_for_telemetry(message.device_id, message.after, self.stop):
                raise Stopping
            self._handle(message)
        finally:  # whatever happened, readings held behind this message must not wait forever
            self.order.control_done(message.device_id, message.arrival)
        self.session.acknowledge([message])

    def _describe(self, message: Inbound) -> str:
        return (
            f"{message.kind} of {message.device_id or '-'} (arrival {message.arrival}, after {message.after}; "
            f"{self.order.describe(message.device_id)})"
        )

    def _handle(self, message: Inbound) -> None:
        """Parse, then dispatch with retries; a message that keeps failing is dead-lettered, never re-raised."""
        try:
            parsed = self._parse(message)
        except payloads.PayloadError as exc:
            message.reject(exc.reason, exc.message)
            return
        except Exception as exc:  # a gap in the checks: refuse this message, keep the worker
            log.exception("%s: message on %s broke the parser", message.device_id or "-", message.topic)
            message.reject(RejectReason.HANDLER_ERROR, describe_failure(exc))
            return
        for attempt in range(1, self.attempts + 1):
            try:
                retry_while_database_down(
                    lambda: self._dispatch(message, parsed), self.stop, f"handling {message.topic}"
                )
                return
            except Stopping:
                raise
            except Exception as exc:
                m.HANDLER_ERRORS.inc()
                log.exception(
                    "%s: handler for %s failed (attempt %d)", message.device_id or "-", message.topic, attempt
                )
                if attempt == self.attempts:
                    message.reject(RejectReason.HANDLER_ERROR, describe_failure(exc))

    @staticmethod
    def _parse(message: Inbound) -> dict:
        document = payloads.decode_payload(message.payload)
        if message.kind == TopicKind.REGISTER:
            return payloads.parse_registration(document, message.device_id)
        return ROUTES[message.kind][0](document)

    def _dispatch(self, message: Inbound, parsed: dict) -> None:
        if message.kind == TopicKind.REGISTER:
            device = handle_registration(parsed["device_id"], parsed, message.received_at)
            self.directory.forget(device.device_id)
            if device.status == DeviceStatus.DECOMMISSIONED:
                m.MESSAGES_DROPPED.labels(device.status).inc()
            return
        device = Device.objects.filter(device_id=message.device_id).first()
        if device is None:
            message.reject(RejectReason.UNKNOWN_DEVICE, "device never registered")
            return
        if device.status in UNACCEPTED_STATUSES:
            m.MESSAGES_DROPPED.labels(device.status).inc()
            return
        with transaction.atomic():
            ROUTES[message.kind][1](device, parsed, message.received_at)
        if message.kind == TopicKind.STATUS:
            self.directory.forget(device.device_id)
