"""Websockets of the operator console: `/ws/fleet/` for the whole fleet, `/ws/devices/<device_id>/` for one.

Protocol (docs/websockets.md): the server sends one `snapshot` right after connecting, then `event`
messages as things happen. The client may send `{"action": "snapshot"}` to resynchronise (e.g. after
its tab slept) and `{"action": "ping"}`. The same permission as the admin's device list
(devices.view_device) is needed to connect; refusals close with a code that says why.
"""

import abc
import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from acuvim_console.core import events, json_limits
from acuvim_console.core.metrics import WEBSOCKETS
from acuvim_console.core.watchers import RENEW_S, watchers
from acuvim_console.operators.ws_auth import BEARER_PREFIX
from devices.cockpit import live
from devices.models import Device

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
VIEW_PERMISSION = "devices.view_device"
FLEET_COUNTERS = "FleetCounters"
DEVICES_SEEN = "DevicesSeen"

# Events after which the dashboard's counters are stale.
COUNTER_EVENTS = frozenset(
    {
        events.DEVICE_STATUS_CHANGED,
        events.DEVICE_REGISTERED,
        events.ALERT_CREATED,
        events.ALERT_UPDATED,
        events.ROLLOUT_PROGRESS,
    }
)


def chosen_subprotocol(scope) -> str | None:
    """Answer with the client's own protocol name, preferring one that is not the bearer token.

    Browsers drop a connection whose offered subprotocols the server ignores, so one must be echoed.
    """
    offered = scope.get("subprotocols") or []
    plain = [protocol for protocol in offered if not protocol.startswith(BEARER_PREFIX)]
    return (plain or offered or [None])[0]


class LiveConsumer(AsyncJsonWebsocketConsumer, abc.ABC):
    """Authentication, authorisation, group membership and the snapshot-then-deltas shape."""

    async def connect(self):
        events.bind_server_loop(asyncio.get_running_loop())
        self.joined: list[str] = []
        await self.accept(chosen_subprotocol(self.scope))
        user = self.scope.get("user")
        if self.scope.get("auth_error") or user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason=self.scope.get("auth_error"))
            return
        if not await database_sync_to_async(user.has_perm)(VIEW_PERMISSION):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await self.load_target():
            await self.close(code=CLOSE_NOT_FOUND)
            return
        for group in self.live_groups():
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)
        self.open_gauge = WEBSOCKETS.labels(type(self).__name__.removesuffix("Consumer").lower())
        self.open_gauge.inc()
        await self.before_snapshot()
        await self.send_snapshot()

    async def before_snapshot(self):
        """Whatever must be in place before the client sees the snapshot and may expect deltas after it."""

    async def disconnect(self, code):
        if gauge := getattr(self, "open_gauge", None):  # only sockets that got past the checks were counted
            gauge.dec()
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Client mistakes get an error message, not a dropped connection; frames are decoded within json_limits."""
        problem = 'send a JSON object like {"action": "ping"}'
        try:
            content = json_limits.loads(text_data) if text_data is not None else None
        except json_limits.JsonRefused as refused:
            content, problem = None, f"{refused.message}; {problem}"
        if not isinstance(content, dict):
            log.info("websocket %s: unreadable client message: %s", self.scope.get("path"), problem)
            await self.send_json({"type": "error", "error": problem})
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        action = content.get("action")
        if action == "snapshot":
            await self.send_snapshot()
        elif action == "ping":
            await self.send_json({"type": "pong"})
        elif not await self.handle_action(action, content):
            await self.send_json({"type": "error", "error": f"unknown action {action!r}"})

    async def handle_action(self, action, content) -> bool:
        """Actions of one socket kind; False when `action` is not one of them."""
        return False

    async def fleet_event(self, message):
        await self.send_json(
            {"type": "event", "event": message["event"], "device_id": message["device_id"], "data": message["data"]}
        )

    async def send_snapshot(self):
        await self.send_json({"type": "snapshot", **await database_sync_to_async(self.build_snapshot)()})

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def load_target(self) -> bool:
        return True

    @abc.abstractmethod
    def live_groups(self) -> list[str]:
        """Channel-layer groups whose events this socket forwards."""

    @abc.abstractmethod
    def build_snapshot(self) -> dict:
        """The bounded state sent on connect, before any event."""


async def repeat(interval_s: float, send, failure: str) -> None:
    """Await `send()` every `interval_s` seconds. A failed send is logged as `failure` and ends this ticker only:
    the socket keeps its events, and the page gets a new ticker when it reconnects."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await send()
        except Exception:
            log.exception(failure)
            return


class FleetConsumer(LiveConsumer):
    """Fleet-wide events plus the dashboard counters, refreshed after events that change them.

    A list page may also ask to follow the devices it shows (`{"action": "follow", "device_ids": [...]}`,
    at most live.MAX_FOLLOWED): it then gets `DevicesSeen` with their last-seen times and statuses every
    LIVE_SEEN_INTERVAL_S, since heartbeats and telemetry are not sent to the fleet socket.
    """

    counters_refresh: asyncio.TimerHandle | None = None
    ticker: asyncio.Task | None = None
    seen_ticker: asyncio.Task | None = None
    followed: list[str] = []

    async def connect(self):
        await super().connect()
        if self.joined:
            # Messages per minute changes without any event announcing it.
            self.ticker = asyncio.ensure_future(
                repeat(settings.LIVE_COUNTERS_INTERVAL_S, self.send_counters, "fleet counters could not be sent")
            )

    async def disconnect(self, code):
        for task in (self.ticker, self.seen_ticker):
            if task:
                task.cancel()
        if self.counters_refresh:
            self.counters_refresh.cancel()
        await super().disconnect(code)

    def live_groups(self) -> list[str]:
        return [events.FLEET_GROUP]

    def build_snapshot(self) -> dict:
        return live.fleet_snapshot()

    async def fleet_event(self, message):
        await super().fleet_event(message)
        if message["event"] in COUNTER_EVENTS and self.counters_refresh is None:
            # One refresh per burst of events, a moment after it, when the rows have settled.
            loop = asyncio.get_running_loop()
            self.counters_refresh = loop.call_later(
                settings.LIVE_COUNTERS_DEBOUNCE_S, lambda: asyncio.ensure_future(self.send_counters())
            )

    async def handle_action(self, action, content) -> bool:
        if action != "follow":
            return False
        device_ids = content.get("device_ids")
        if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
            await self.send_json({"type": "error", "error": "device_ids must be a list of device ids"})
            return True
        self.followed = device_ids[: live.MAX_FOLLOWED]
        await self.send_seen()
        if self.seen_ticker is None:
            self.seen_ticker = asyncio.ensure_future(
                repeat(settings.LIVE_SEEN_INTERVAL_S, self.send_seen, "last-seen times could not be sent")
            )
        return True

    async def send_seen(self):
        seen = await database_sync_to_async(live.last_seen_of)(self.followed)
        await self.send_json({"type": "event", "event": DEVICES_SEEN, "device_id": None, "data": seen})

    async def send_counters(self):
        self.counters_refresh = None
        counters = await database_sync_to_async(live.fleet_counters)()
        await self.send_json({"type": "event", "event": FLEET_COUNTERS, "device_id": None, "data": counters})


class DeviceConsumer(LiveConsumer):
    """Everything about one device: telemetry, heartbeats, status, commands, alerts, OTA.

    While connected it registers interest in its device, without which producers skip its telemetry.
    """

    device: Device | None = None
    renewer: asyncio.Task | None = None

    async def before_snapshot(self):
        """Interest first: registered after the snapshot, the readings of the next moments would be skipped."""
        await watchers().watch(self.device.device_id)
        self.renewer = asyncio.ensure_future(self.renew_interest())

    async def disconnect(self, code):
        if self.renewer:
            self.renewer.cancel()
            await watchers().unwatch(self.device.device_id)
        await super().disconnect(code)

    async def renew_interest(self):
        while True:
            await asyncio.sleep(RENEW_S)
            await watchers().renew(self.device.device_id)

    async def load_target(self) -> bool:
        device_id = self.scope["url_route"]["kwargs"]["device_id"]
        self.device = await Device.objects.filter(device_id=device_id).afirst()
        return self.device is not None

    def live_groups(self) -> list[str]:
        return [events.device_group(self.device.device_id)]

    def build_snapshot(self) -> dict:
        self.device.refresh_from_db()
        return live.device_snapshot(self.device)


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Every websocket path no route matches: accepted and closed with 4404, like an unknown device.

    Without it Channels' router raised ValueError for the path, which the server logged as a traceback and
    answered with a 500; a mistyped URL is a client error, not a server fault.
    """

    async def connect(self):
        log.info("websocket %r: no such path", self.scope.get("path"))
        await self.accept(chosen_subprotocol(self.scope))
        await self.close(code=CLOSE_NOT_FOUND)
