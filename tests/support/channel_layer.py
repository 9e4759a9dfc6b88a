"""The production channel layer for tests: RedisPubSubChannelLayer on the real Redis, one prefix per session.

Redis pub/sub channels are shared by every database number of a server, so parallel test runs on one
machine are kept apart by a channel prefix of their own (also the key of the watched-devices registry).
"""

import uuid
from contextlib import contextmanager

import redis
from django.test import override_settings

from acuvim_console.core import watchers

LIVE_REDIS_URL = "redis://127.0.0.1:6379/12"


def new_channel_prefix() -> str:
    return f"test-live-{uuid.uuid4().hex[:12]}"


def forget_channel_prefix(prefix: str) -> None:
    """Delete what the session left in Redis under its prefix (the watched-devices registry)."""
    client = redis.Redis.from_url(LIVE_REDIS_URL)
    try:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


@contextmanager
def redis_channel_layer(prefix: str):
    """What settings.py configures when REDIS_URL is set, with `prefix`, and a fresh watchers registry."""
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [LIVE_REDIS_URL], "prefix": prefix},
        }
    }
    registry, watchers._registry = watchers._registry, None
    try:
        with override_settings(REDIS_URL=LIVE_REDIS_URL, CHANNEL_LAYERS=layers):
            yield layers["default"]
    finally:
        watchers._registry = registry
