"""A bounded hand-off from the MQTT thread to a worker, paid for once per batch rather than per message.

`queue.Queue` takes its lock and signals a condition on every put and every get; at 10,000 messages a second
that bookkeeping was about 4 % of the bridge's CPU. Here the producer appends under one lock and wakes the
consumer only when the consumer is waiting for exactly that (its first message, or a full batch), and the
consumer takes a whole batch in one step. Back-pressure stays: `put` waits while `capacity` items are queued,
so even a queue smaller than the broker's window (a misconfiguration, acuvim.W002) never grows memory.

Made for one consumer thread. Several are served correctly, but one of them may sit out its timeout
while another takes the batch it was waiting for.
"""

import threading
import time


class BatchQueue:
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("a batch queue needs room for at least one item")
        self.capacity = capacity
        self._items: list = []
        self._arrivals: list[float] = []  # monotonic time each queued item arrived, for the batch deadline
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._consumer_wants = 0  # items the waiting consumer needs before it wakes; 0: not waiting

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item, timeout: float) -> bool:
        """Append `item`, waiting up to `timeout` seconds for room; False when there was none."""
        with self._lock:
            if len(self._items) >= self.capacity and not self._room.wait_for(self._has_room, timeout):
                return False
            self._items.append(item)
            self._arrivals.append(time.monotonic())
            if self._consumer_wants and len(self._items) >= self._consumer_wants:
                self._consumer_wants = 0
                self._arrived.notify()
            return True

    def put_unless_stopped(self, item, stop: threading.Event) -> bool:
        """Append `item`, waiting as long as it takes for room; False (not queued) once `stop` is set."""
        while not self.put(item, timeout=0.5):
            if stop.is_set():
                return False
        return True

    def take(self, max_items: int, max_wait: float, idle_timeout: float) -> list:
        """Up to `max_items` items: waits `idle_timeout` for a first one, then fills the batch until `max_wait`
        after the oldest item arrived, so what queued up while the previous batch was being written is not
        kept waiting a second time.

        Returns [] when nothing arrived within `idle_timeout`, so the caller can check whether to stop.
        """
        with self._lock:
            if not self._items and not self._wait_for(1, idle_timeout):
                return []
            deadline = self._arrivals[0] + max_wait
            fullest = min(max_items, self.capacity)  # a full queue is as big a batch as will ever come
            while len(self._items) < fullest:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._wait_for(fullest, remaining):
                    break
            was_full = len(self._items) >= self.capacity
            batch = self._items[:max_items]
            del self._items[:max_items]
            del self._arrivals[:max_items]
            if was_full:
                self._room.notify_all()
            return batch

    def discard(self, unwanted) -> list:
        """Remove and return the queued items `unwanted(item)` is true of, making room for the producer."""
        with self._lock:
            removed, items, arrivals = [], [], []
            for item, arrival in zip(self._items, self._arrivals, strict=True):
                if unwanted(item):
                    removed.append(item)
                else:
                    items.append(item)
                    arrivals.append(arrival)
            if removed:
                self._items, self._arrivals = items, arrivals
                self._room.notify_all()
            return removed

    def _wait_for(self, count: int, timeout: float) -> bool:
        """With the lock held: wait until `count` items are queued or `timeout` passes."""
        self._consumer_wants = count
        self._arrived.wait(timeout)
        self._consumer_wants = 0
        return len(self._items) >= count

    def _has_room(self) -> bool:
        return len(self._items) < self.capacity
