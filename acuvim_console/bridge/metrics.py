"""Counters of the bridge: what came in, what was stored, refused or dropped, and how fast and late it was.

One process-wide instance, written by the MQTT thread and the workers, read by `snapshot()` for the
periodic log line (and a /metrics endpoint). Plain counters behind a lock: cheap enough per message.
"""

import threading
import time
from collections import Counter


class _Summary:
    """Count, sum and maximum of an observed quantity (batch size, commit latency, lag)."""

    __slots__ = ("count", "last", "maximum", "total")

    def __init__(self):
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0
        self.last = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.last = value
        self.maximum = max(self.maximum, value)

    def as_dict(self, scale: float = 1.0) -> dict:
        mean = self.total / self.count if self.count else 0.0
        return {
            "count": self.count,
            "mean": round(mean * scale, 3),
            "max": round(self.maximum * scale, 3),
            "last": round(self.last * scale, 3),
        }


class BridgeMetrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.started = time.monotonic()
            self.received: Counter = Counter()  # by topic kind
            self.rejected: Counter = Counter()  # by RejectReason
            self.dropped: Counter = Counter()  # by device status (pending, decommissioned)
            self.counters: Counter = Counter()  # stored, duplicates, acked, handler_errors, db_errors, ...
            self.batch_size = _Summary()
            self.commit_seconds = _Summary()
            self.lag_seconds = _Summary()

    def count_received(self, kind: str) -> None:
        # Only the MQTT thread counts receptions, so no lock: this runs for every message.
        self.received[kind] += 1

    def count_rejected(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def count_dropped(self, status: str, n: int = 1) -> None:
        with self._lock:
            self.dropped[status] += n

    def incr(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def observe_batch(self, size: int, stored: int, commit_seconds: float, lag_seconds: float | None) -> None:
        """One committed telemetry batch: rows offered, rows new, commit time and the newest live record's lag."""
        with self._lock:
            self.batch_size.observe(size)
            self.commit_seconds.observe(commit_seconds)
            if lag_seconds is not None:
                self.lag_seconds.observe(lag_seconds)
            self.counters["stored"] += stored
            self.counters["duplicates"] += size - stored

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "uptime_s": round(time.monotonic() - self.started, 1),
                "received": dict(self.received),
                "received_total": sum(self.received.values()),
                "stored": self.counters["stored"],
                "duplicates": self.counters["duplicates"],
                "rejected": dict(self.rejected),
                "rejected_total": sum(self.rejected.values()),
                "dropped": dict(self.dropped),
                "handler_errors": self.counters["handler_errors"],
                "worker_restarts": self.counters["worker_restarts"],
                "held_for_order": self.counters["held_for_order"],
                "db_errors": self.counters["db_errors"],
                "acked": self.counters["acked"],
                "acks_skipped_after_reconnect": self.counters["acks_skipped"],
                "connects": self.counters["connects"],
                "batch_size": self.batch_size.as_dict(),
                "commit_latency_ms": self.commit_seconds.as_dict(scale=1000.0),
                "lag_s": self.lag_seconds.as_dict(),
            }


metrics = BridgeMetrics()
