"""Live events for the operator console, published to the Channels layer after the database commits.

Fleet-wide events go to the `fleet` group; every event about one device also goes to that device's
group, so an admin page subscribes to exactly what it shows. Per-device streams (telemetry, heartbeats,
command progress) stay out of the fleet group: a fleet of thousands must not push every reading to
every dashboard. Names follow the original console's SignalR hub; docs/websockets.md lists the payloads.

Telemetry and heartbeats are published only for devices that a device page is watching
(acuvim_console.core.watchers), so their cost follows the audience, not the fleet.

Producers (the bridge, web requests, workers) call `publish_event` from synchronous code. Sending is
handed to an event loop and never blocks or raises into the caller:
- with the in-memory layer (embedded mode) the loop is the web server's own, bound by the first
  websocket consumer, because that layer's queues are only safe to touch from the loop that waits on them;
- with Redis a process-wide sender thread owns one loop and so one connection pool.
Telemetry is coalesced per device in the producer (latest wins, at most one event per
LIVE_TELEMETRY_INTERVAL_S), so a burst of readings cannot flood the layer or a browser.
"""

import asyncio
import atexit
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction

from acuvim_console.core.metrics import LIVE_EVENTS, Children
from acuvim_console.core.watchers import watchers

log = logging.getLogger(__name__)

DEVICE_STATUS_CHANGED = "DeviceStatusChanged"
DEVICE_REGISTERED = "DeviceRegistered"
TELEMETRY_RECEIVED = "TelemetryReceived"
HEARTBEAT_RECEIVED = "HeartbeatReceived"
ALERT_CREATED = "AlertCreated"
ALERT_UPDATED = "AlertUpdated"
COMMAND_UPDATED = "CommandUpdated"
COMMAND_COMPLETED = "CommandCompleted"
ROLLOUT_PROGRESS = "RolloutProgress"

FLEET_GROUP = "fleet"
MESSAGE_TYPE = "fleet.event"

# Sent only to the device's own group (high rate, meaningful for one device page).
DEVICE_ONLY_EVENTS = frozenset({TELEMETRY_RECEIVED, HEARTBEAT_RECEIVED, COMMAND_UPDATED})
# Streams published only while some device page watches the device (acuvim_console.core.watchers).
WATCHED_ONLY_EVENTS = frozenset({TELEMETRY_RECEIVED, HEARTBEAT_RECEIVED})
COALESCED_EVENTS = frozenset({TELEMETRY_RECEIVED})

# What happened to live events, counted in the metrics registry (acuvim_live_events_total{outcome}).
_outcome = Children(
    LIVE_EVENTS,
    ("submitted", "sent", "coalesced", "unwatched", "dropped_backlog", "dropped_no_listener", "send_failed"),
)

SEND_FAILURE_LOG_INTERVAL_S = 10.0


class _FailureLog:
    """Log a failed send with its traceback at most once per interval, counting the ones in between.

    With Redis down every event fails; one traceback per event would flood the log (thousands a second
    for a large fleet) and cost the bridge the CPU it needs for ingestion. Call it inside `except`.
    """

    def __init__(self, interval: float):
        self.interval = interval
        self._last = -math.inf
        self._suppressed = 0
        self._lock = threading.Lock()

    def failed(self, what: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        more = f" ({suppressed} more failed since the last report)" if suppressed else ""
        log.error("%s%s", what, more, exc_info=True)


send_failures = _FailureLog(SEND_FAILURE_LOG_INTERVAL_S)


def iso_or_none(moment) -> str | None:
    """A time as events carry it: ISO 8601, or None when there is none."""
    return moment.isoformat() if moment is not None else None


def device_group(device_id: str) -> str:
    return f"device.{device_id}"


def groups_for(name: str, device_id: str | None) -> list[str]:
    groups = [] if name in DEVICE_ONLY_EVENTS else [FLEET_GROUP]
    if device_id:
        groups.append(device_group(device_id))
    return groups


def publish_event(name: str, data: dict, device_id: str | None = None) -> None:
    """Send once the surrounding transaction commits (at once outside one); never raise into the caller."""
    transaction.on_commit(lambda: _send(name, data, device_id))


def publish_events(events: list[tuple[str, dict, str | None]]) -> None:
    """Like publish_event for many (name, data, device_id) at once, behind a single commit hook.

    A telemetry batch announces hundreds of devices; registering a hook per event costs more than
    sending them (each registration looks up the thread's database connection).
    """
    if not events:
        return

    def send_all():
        for name, data, device_id in events:
            _send(name, data, device_id)

    transaction.on_commit(send_all)


def has_audience(name: str, device_id: str | None) -> bool:
    """False for a per-device stream nobody watches: producers can then skip even building its payload."""
    if name in WATCHED_ONLY_EVENTS and device_id and not watchers().is_watched(device_id):
        _outcome["unwatched"].inc()
        return False
    return True


def _send(name: str, data: dict, device_id: str | None) -> None:
    groups = groups_for(name, device_id)
    if not groups or not has_audience(name, device_id):
        return
    message = {"type": MESSAGE_TYPE, "event": name, "device_id": device_id, "data": data}
    try:
        dispatcher.submit(message, groups, coalesce_key=device_id if name in COALESCED_EVENTS else None)
    except Exception:  # the live layer must never break ingestion or a request
        _outcome["send_failed"].inc()
        send_failures.failed(f"live event {name} for {device_id or 'fleet'} could not be sent")


class Coalescer:
    """Latest-wins rate limit per key, run entirely inside one event loop.

    The first item for a key goes out at once; items arriving within `interval` of it replace each
    other and the newest goes out when the interval is over, so a page always ends on the latest value.
    """

    PRUNE_ABOVE = 10_000

    def __init__(self, interval: float, deliver: Callable[[object], None], loop: asyncio.AbstractEventLoop):
        self.interval = interval
        self.deliver = deliver
        self.loop = loop
        self._last_sent: dict[Hashable, float] = {}
        self._pending: dict[Hashable, object] = {}

    def offer(self, key: Hashable, item: object) -> None:
        if key in self._pending:
            self._pending[key] = item
            _outcome["coalesced"].inc()
            return
        now = self.loop.time()
        wait = self._last_sent.get(key, -math.inf) + self.interval - now
        if wait <= 0:
            self._mark_sent(key, now)
            self.deliver(item)
            return
        self._pending[key] = item
        self.loop.call_later(wait, self._flush, key)

    def _flush(self, key: Hashable) -> None:
        item = self._pending.pop(key, None)
        if item is not None:
            self._mark_sent(key, self.loop.time())
            self.deliver(item)

    def _mark_sent(self, key: Hashable, now: float) -> None:
        if len(self._last_sent) > self.PRUNE_ABOVE:
            horizon = now - self.interval
            self._last_sent = {k: t for k, t in self._last_sent.items() if t > horizon}
        self._last_sent[key] = now


class _Dispatcher:
    """Hands messages to the loop that may talk to the channel layer, coalescing telemetry on the way.

    Producers append to an inbox and wake the loop once per burst, not once per event. The number of
    sends in flight is bounded: when the layer cannot keep up (Redis slow, CPU starved), telemetry events
    are dropped and counted rather than queued without limit; status, alert and command events are not.
    """

    MAX_IN_FLIGHT = 2000

    def __init__(self):
        self._lock = threading.Lock()
        self._bound_loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._coalescers: dict[asyncio.AbstractEventLoop, Coalescer] = {}
        self._inboxes: dict[asyncio.AbstractEventLoop, list] = {}
        self._tasks: set[asyncio.Task] = set()

    def bind_server_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by consumers: with the in-memory layer, events must be delivered on this loop."""
        self._bound_loop = loop

    def submit(self, message: dict, groups: list[str], coalesce_key: str | None = None) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        loop = self._target_loop(layer)
        if loop is None:
            _outcome["dropped_no_listener"].inc()
            return
        _outcome["submitted"].inc()
        with self._lock:
            inbox = self._inboxes.get(loop)
            wake = not inbox
            if wake:
                inbox = self._inboxes[loop] = []
            inbox.append((coalesce_key, (layer, message, groups)))
        if wake:
            self._call_in(loop, self._drain, loop)

    def _target_loop(self, layer) -> asyncio.AbstractEventLoop | None:
        if isinstance(layer, InMemoryChannelLayer):
            loop = self._bound_loop
            # No consumer ever connected in this process: nobody here could receive the event.
            return loop if loop is not None and not loop.is_closed() else None
        return self._sender_loop()

    @staticmethod
    def _call_in(loop: asyncio.AbstractEventLoop, callback, *args) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            callback(*args)
        else:
            loop.call_soon_threadsafe(callback, *args)

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            items = self._inboxes.pop(loop, [])
        for coalesce_key, item in items:
            if coalesce_key is None:
                self._start_send(item)
            else:
                self._coalescer(loop).offer(coalesce_key, item)

    def _coalescer(self, loop: asyncio.AbstractEventLoop) -> Coalescer:
        coalescer = self._coalescers.get(loop)
        if coalescer is None:
            interval = settings.LIVE_TELEMETRY_INTERVAL_S
            coalescer = self._coalescers[loop] = Coalescer(interval, self._start_droppable_send, loop)
        return coalescer

    def _start_droppable_send(self, item) -> None:
        if len(self._tasks) >= self.MAX_IN_FLIGHT:
            _outcome["dropped_backlog"].inc()
            return
        self._start_send(item)

    def _start_send(self, item) -> None:
        task = asyncio.ensure_future(self._group_send(*item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _group_send(layer, message: dict, groups: list[str]) -> None:
        try:
            for group in groups:
                await layer.group_send(group, message)
            _outcome["sent"].inc()
        except Exception:
            _outcome["send_failed"].inc()
            send_failures.failed(f"live event {message.get('event')} could not be sent to {groups}")

    def _sender_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._own_loop is None or self._own_loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="live-events", daemon=True).start()
                self._own_loop = loop
            return self._own_loop

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (bounded) until queued sends of the own sender loop are done; used at process exit."""
        loop = self._own_loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return

        async def drain():
            while self._tasks or self._inboxes or any(c._pending for c in self._coalescers.values()):
                await asyncio.sleep(0.01)

        try:
            asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout)
        except Exception:
            log.warning("live events still unsent at exit: %d", len(self._tasks))


dispatcher = _Dispatcher()
bind_server_loop = dispatcher.bind_server_loop
atexit.register(dispatcher.flush)
