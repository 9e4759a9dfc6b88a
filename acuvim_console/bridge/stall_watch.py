"""Noticing a bridge worker that has been on one piece of work for too long, and saying where it waits.

A worker that blocks forever (a row lock nobody releases, a wait whose event never comes) stops every
device pinned to it, and nothing fails, so nothing is logged: the devices' heartbeats just stop being
applied. Each worker says what it is on (`Busy.begin`/`end`, a few attribute stores per message); the
bridge's housekeeping thread checks every second and, for work older than MQTT_STALL_WARNING_S, logs a
warning with the worker's current stack and what the ordering state says, counts it, and repeats the
warning while the stall lasts (every tenth of an hour at most). The longest current work is a gauge.

A database outage also keeps a worker on one message; that is logged as it happens
(acuvim_console.bridge.messages) and reported here too once it lasts: either way the devices wait.
"""

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

from acuvim_console.core import metrics as m

log = logging.getLogger(__name__)

REPEAT_EVERY_S = 360.0
STACK_FRAMES = 40  # enough to show the handler under the database driver or lock it waits in


class Busy:
    """What one worker thread is on, and since when (monotonic seconds); None when it waits for work."""

    __slots__ = ("lane", "reported_at", "since", "thread_id", "what")

    def __init__(self, lane: str):
        self.lane = lane
        self.since: float | None = None
        self.what: Callable[[], str] | None = None
        self.thread_id: int | None = None
        self.reported_at: float | None = None

    def begin(self, what: Callable[[], str]) -> None:
        """`what` describes the work; it is called only if the work turns out stuck."""
        self.thread_id = threading.get_ident()
        self.what = what
        self.reported_at = None
        self.since = time.monotonic()

    def end(self) -> None:
        self.since = None
        self.what = None


class StallWatch:
    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self._workers: list[Busy] = []

    def worker(self, lane: str) -> Busy:
        busy = Busy(lane)
        self._workers.append(busy)
        return busy

    def longest_busy_s(self) -> float:
        """Seconds the oldest current work has lasted (0 when every worker is idle); the gauge reads this."""
        now = time.monotonic()
        return max((now - since for busy in self._workers if (since := busy.since) is not None), default=0.0)

    def check(self) -> int:
        """Warn about each worker stuck past the limit (again every REPEAT_EVERY_S); returns how many warned."""
        if self.limit_s <= 0:
            return 0
        now, frames, warned = time.monotonic(), None, 0
        for busy in self._workers:
            since, what = busy.since, busy.what
            if since is None or what is None or now - since < self.limit_s:
                continue
            if busy.reported_at is not None and now - busy.reported_at < REPEAT_EVERY_S:
                continue
            busy.reported_at = now
            frames = frames if frames is not None else sys._current_frames()
            frame = frames.get(busy.thread_id)
            stack = "".join(traceback.format_stack(frame, limit=STACK_FRAMES)) if frame else "(thread gone)\n"
            m.WORKER_STALLS.labels(busy.lane).inc()
            log.warning(
                "bridge %s worker has been on %s for %.0f s; it is at:\n%s", busy.lane, what(), now - since, stack
            )
            warned += 1
        return warned
