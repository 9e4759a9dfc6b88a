"""The live-event tests run on the production channel layer: RedisPubSubChannelLayer on the real Redis.

Redis pub/sub channels are shared by every database number of a server, so parallel test runs on one
machine are kept apart by a channel prefix of their own (also the key of the watched-devices registry).
"""

import uuid

import pytest
import redis

from acuvim_console import watchers

LIVE_REDIS_URL = "redis://127.0.0.1:6379/12"


@pytest.fixture(scope="session")
def live_channel_prefix() -> str:
    prefix = f"test-live-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(LIVE_REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(autouse=True)
def redis_channel_layer(settings, live_channel_prefix, monkeypatch):
    """What settings.py configures when REDIS_URL is set, with this session's prefix; a fresh watchers registry."""
    settings.REDIS_URL = LIVE_REDIS_URL
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [LIVE_REDIS_URL], "prefix": live_channel_prefix},
        }
    }
    monkeypatch.setattr(watchers, "_registry", None)
    return settings.CHANNEL_LAYERS["default"]
