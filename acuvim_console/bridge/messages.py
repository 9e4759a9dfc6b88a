"""What the MQTT thread hands to the workers, and how the workers wait out a database outage."""

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.db import InterfaceError, OperationalError, connection

from acuvim_console.bridge.device_order import NOTHING
from acuvim_console.bridge.rejections import report_rejection
from acuvim_console.core import metrics as m
from acuvim_console.core.mqtt_connection import backoff_delay
from acuvim_console.protocol.topics import TopicKind

log = logging.getLogger(__name__)

# Errors that mean "the database is not there right now", not "this message is bad": retry, never drop.
DATABASE_OUTAGE_ERRORS = (OperationalError, InterfaceError)
RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0


@dataclass(slots=True)
class Inbound:
    """One received message, with what is needed to acknowledge it later on the connection it came from."""

    kind: TopicKind
    device_id: str | None
    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int
    generation: int  # connection number; acks for an earlier connection are void
    arrival: int = NOTHING  # order of arrival at the bridge (acuvim_console.bridge.device_order)
    after: int = NOTHING  # the other lane's message of this device that must be handled first

    def reject(self, reason: str, detail: str) -> None:
        """Refuse this message: log line, counter and dead-letter entry (the caller acknowledges it)."""
        report_rejection(self.device_id, self.topic, reason, detail, kind=self.kind, payload=self.payload)


class BrokerSession(Protocol):
    """What the workers need of the bridge's broker session (acuvim_console.bridge.service.Bridge)."""

    def acknowledge(self, messages: list[Inbound]) -> None:
        """PUBACK the messages after their commit, on the connection they came in on."""

    def redelivered(self, message: Inbound) -> bool:
        """Whether the broker sends `message` again: it came unacknowledged on an earlier connection of a
        session that resumed, so its copy is (or will be) queued behind it and handling it would be twice."""


def describe_failure(exc: BaseException) -> str:
    """A handler's exception as a rejected message's detail: its type and first words, never a traceback."""
    return f"{type(exc).__name__}: {exc}"[:300]


class Stopping(Exception):
    """The bridge is shutting down while the database is away: leave the message unacknowledged."""


def retry_while_database_down(work, stop: threading.Event, what: str):
    """Run `work()` until it gets through; on an outage drop the connection, back off and try again.

    The caller acknowledges only after this returns, so a message is never lost to an outage: it waits
    here (and the broker keeps everything behind it) until the database is back or the bridge stops.
    """
    attempt = 0
    while True:
        try:
            return work()
        except DATABASE_OUTAGE_ERRORS as exc:
            m.DB_ERRORS.inc()
            delay = backoff_delay(attempt, RETRY_BASE_S, RETRY_CAP_S)
            log.warning("database unavailable while %s (%s); retry %d in %.1f s", what, exc, attempt + 1, delay)
            _drop_connection()
            if stop.wait(delay):
                raise Stopping from exc
            attempt += 1


def _drop_connection() -> None:
    with contextlib.suppress(DATABASE_OUTAGE_ERRORS):  # already gone; the next query opens a new one
        connection.close()
