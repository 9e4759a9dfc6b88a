"""One thread that runs many simulated devices: their timers and all their MQTT sockets.

paho-mqtt's external-loop hooks (socket open/close, register/unregister write) put each device's
socket into one `selectors` selector, so a thread serves hundreds of connections with one system call
per wake-up instead of a thread per device. Device timers sit in a heap; `call_soon` lets other threads
hand work to the shard safely.
"""

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time

logger = logging.getLogger("firmware_src.sim")

MAX_SLEEP_S = 0.5


class Shard(threading.Thread):
    def __init__(self, name):
        super().__init__(name=name, daemon=True)
        self.selector = selectors.DefaultSelector()
        self._timers = []
        self._counter = itertools.count()
        self._calls = []
        self._calls_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopping = threading.Event()
        self.ticks = 0
        self.errors = 0

    # -- paho external loop hooks (run on this thread) ------------------------------------------
    def socket_opened(self, client, userdata, sock):
        self.selector.register(sock, selectors.EVENT_READ, client)

    def socket_closed(self, client, userdata, sock):
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def want_write(self, client, userdata, sock):
        self._modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def done_writing(self, client, userdata, sock):
        self._modify(sock, selectors.EVENT_READ, client)

    def _modify(self, sock, events, client):
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(sock, events, client)

    # -- scheduling -----------------------------------------------------------------------------
    def schedule(self, delay_s, callback):
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._counter), callback))

    def call_soon(self, callback):
        """Thread-safe: run `callback` on the shard thread at its next wake-up."""
        with self._calls_lock:
            self._calls.append(callback)
        with contextlib.suppress(BlockingIOError):
            self._wake_w.send(b"x")

    def stop(self):
        self._stopping.set()
        self.call_soon(lambda: None)

    def run(self):
        while not self._stopping.is_set():
            timeout = MAX_SLEEP_S
            if self._timers:
                timeout = min(MAX_SLEEP_S, max(0.0, self._timers[0][0] - time.monotonic()))
            for key, events in self.selector.select(timeout):
                client = key.data
                if client is None:
                    self._drain_wakeups()
                    continue
                self._guard(self._io, client, events)
            self._run_calls()
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, callback = heapq.heappop(self._timers)
                self.ticks += 1
                self._guard(callback)
        self.selector.close()

    def _io(self, client, events):
        if events & selectors.EVENT_READ:
            client.loop_read()
        if events & selectors.EVENT_WRITE:
            client.loop_write()

    def _drain_wakeups(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _run_calls(self):
        with self._calls_lock:
            calls, self._calls = self._calls, []
        for callback in calls:
            self._guard(callback)

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception:
            self.errors += 1
            logger.exception("simulator shard %s: unexpected error", self.name)
