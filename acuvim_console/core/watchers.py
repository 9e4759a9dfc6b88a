"""Which devices have a live page open somewhere, so per-device streams are published only for those.

Telemetry and heartbeats of a fleet of thousands are worth publishing only for the handful of devices an
engineer is looking at; announcing every reading would cost the bridge and the channel layer in
proportion to the fleet instead of to the audience.

- In-memory layer (embedded mode): producers and websockets share one process; a counter per device.
- Redis layer: each device socket puts its device into a sorted set scored by an expiry time and renews
  it while connected; producers read the live members at most once a second. A crashed web process's
  entries simply expire. Until a producer has read the set (or when Redis fails) everything is published:
  the filter saves work, it must never hide data.
"""

import logging
import threading
import time
from collections import Counter

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)

TTL_S = 60.0  # how long a registration lives without renewal
RENEW_S = TTL_S / 3  # how often a connected device socket renews it
RELOAD_S = 1.0  # how often a producer re-reads the watched set


class LocalWatchers:
    def __init__(self):
        self._counts: Counter = Counter()
        self._lock = threading.Lock()

    async def watch(self, device_id: str) -> None:
        with self._lock:
            self._counts[device_id] += 1

    async def renew(self, device_id: str) -> None:
        """Nothing expires in one process."""

    async def unwatch(self, device_id: str) -> None:
        with self._lock:
            self._counts[device_id] -= 1
            if self._counts[device_id] <= 0:
                del self._counts[device_id]

    def is_watched(self, device_id: str) -> bool:
        return self._counts.get(device_id, 0) > 0


class RedisWatchers:
    def __init__(self, url: str, key: str):
        self.url, self.key = url, key
        self._async_clients: dict = {}  # one per event loop: redis.asyncio clients are bound to theirs
        self._lock = threading.Lock()
        self._watched: frozenset[str] | None = None
        self._loaded_at = -RELOAD_S
        self._sync_client = None

    def _async_client(self):
        import asyncio

        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = redis.asyncio.Redis.from_url(self.url)
        return client

    async def watch(self, device_id: str) -> None:
        try:
            await self._async_client().zadd(self.key, {device_id: time.time() + TTL_S})
        except Exception:  # producers then publish everything; the page still works
            log.warning("could not register live interest in %s", device_id, exc_info=True)

    renew = watch

    async def unwatch(self, device_id: str) -> None:
        """Left to expire: another tab or web process may be watching the same device."""

    def is_watched(self, device_id: str) -> bool:
        now = time.monotonic()
        if now - self._loaded_at >= RELOAD_S:
            with self._lock:
                if now - self._loaded_at >= RELOAD_S:
                    self._reload(now)
        return self._watched is None or device_id in self._watched

    def _reload(self, now: float) -> None:
        import redis

        self._loaded_at = now
        try:
            if self._sync_client is None:
                self._sync_client = redis.Redis.from_url(self.url)
            wall = time.time()
            pipe = self._sync_client.pipeline()
            pipe.zremrangebyscore(self.key, "-inf", wall)
            pipe.zrangebyscore(self.key, wall, "+inf")
            members = pipe.execute()[1]
            self._watched = frozenset(member.decode() for member in members)
        except Exception:
            log.warning("could not read the watched devices; publishing every device's stream", exc_info=True)
            self._watched = None


_registry: LocalWatchers | RedisWatchers | None = None
_registry_lock = threading.Lock()


def watchers() -> LocalWatchers | RedisWatchers:
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = _build()
    return _registry


def _build() -> LocalWatchers | RedisWatchers:
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer) or not settings.REDIS_URL:
        return LocalWatchers()
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "acuvim")
    return RedisWatchers(settings.REDIS_URL, f"{prefix}:live:watched-devices")
