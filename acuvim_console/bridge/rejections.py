"""What happens to a refused device message: a log line within a budget, a counter and a dead letter."""

import logging
import threading
import time

from acuvim_console.bridge.dead_letters import dead_letters
from acuvim_console.core import metrics as m
from acuvim_console.protocol.reasons import RejectReason

log = logging.getLogger("acuvim_console.bridge.rejected")




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
