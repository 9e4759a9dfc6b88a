"""Why the console refused a device message: one code per cause, used in logs, counters and docs/mqtt-protocol.md."""

import logging
import threading
import time

from django.db import models

from acuvim_console.core import metrics as m
from acuvim_console.mqtt.dead_letters import dead_letters

log = logging.getLogger("acuvim_console.mqtt.rejected")


class RejectReason(models.TextChoices):
    BAD_TOPIC = "bad_topic", "Topic is not a device topic"
    INVALID_DEVICE_ID = "invalid_device_id", "Device id does not match the id pattern"
    PAYLOAD_TOO_LARGE = "payload_too_large", "Payload above MQTT_MAX_PAYLOAD_BYTES"
    INVALID_JSON = "invalid_json", "Payload is not UTF-8 JSON"
    NOT_AN_OBJECT = "not_an_object", "JSON is not an object (or, for telemetry, an array of objects)"
    MISSING_FIELD = "missing_field", "A required field is absent"
    INVALID_FIELD = "invalid_field", "A field has the wrong type, length or value"
    NON_FINITE_NUMBER = "non_finite_number", "NaN or Infinity where a number was expected"
    TS_IN_FUTURE = "ts_in_future", "Timestamp further ahead than MQTT_MAX_FUTURE_SECONDS"
    TS_TOO_OLD = "ts_too_old", "Timestamp before 2020"
    DEVICE_ID_MISMATCH = "device_id_mismatch", "Registration payload names another device than its topic"
    UNKNOWN_DEVICE = "unknown_device", "Data from a device that never registered"
    PAYLOAD_TOO_COMPLEX = "payload_too_complex", "JSON nested too deep or a container with too many members"
    INVALID_TEXT = "invalid_text", "A string holds a NUL character or a lone surrogate"
    HANDLER_ERROR = "handler_error", "The console failed on it repeatedly (a bug): kept for inspection"


class _LogBudget:
    """At most `per_second` rejection lines a second: one broken device must not drown the log."""

    def __init__(self, per_second: int):
        self.per_second = per_second
        self._lock = threading.Lock()
        self._window_start = 0.0
        self._logged = 0
        self._suppressed = 0

    def allow(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._window_start >= 1.0:
                if self._suppressed:
                    log.warning(
                        "mqtt rejected %d more messages in the last second (see the rejected counters)",
                        self._suppressed,
                    )
                self._window_start, self._logged, self._suppressed = now, 0, 0
            if self._logged >= self.per_second:
                self._suppressed += 1
                return False
            self._logged += 1
            return True


_log_budget = _LogBudget(per_second=20)
_rejected = m.Children(m.MESSAGES_REJECTED, RejectReason)  # every reason shows, at 0 until it happens


def report_rejection(
    device_id: str | None, topic: str, reason: str, message: str, *, kind: str = "", payload: bytes = b""
) -> None:
    """The structured log line, counter and dead-letter entry every refused message gets (it is acknowledged)."""
    _rejected[reason].inc()
    dead_letters.add(device_id or "", kind, topic, reason, message, payload)
    if _log_budget.allow():
        log.warning("mqtt rejected device=%s topic=%s reason=%s: %s", device_id or "-", topic, reason, message)
