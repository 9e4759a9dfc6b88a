"""Interest registry: per-device streams are published only while a device page watches the device."""

import time
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync

from acuvim_console.core import events, watchers
from acuvim_console.core.metrics import LIVE_EVENTS, counts
from acuvim_console.core.watchers import LocalWatchers, RedisWatchers

REDIS_URL = "redis://127.0.0.1:6379/14"


def test_local_registry_counts_pages_per_device():
    registry = LocalWatchers()
    async_to_sync(registry.watch)("ACV-1")
    async_to_sync(registry.watch)("ACV-1")
    async_to_sync(registry.unwatch)("ACV-1")
    assert registry.is_watched("ACV-1")
    async_to_sync(registry.unwatch)("ACV-1")
    assert not registry.is_watched("ACV-1") and not registry.is_watched("ACV-2")


@pytest.fixture
def redis_registry():
    key = f"test-live:{uuid.uuid4().hex}"
    registry = RedisWatchers(REDIS_URL, key)
    yield registry
    redis.Redis.from_url(REDIS_URL).delete(key)


def test_redis_registry_sees_devices_watched_from_another_process(redis_registry):
    async_to_sync(redis_registry.watch)("ACV-A")
    assert redis_registry.is_watched("ACV-A")
    assert not redis_registry.is_watched("ACV-B")


def test_redis_registry_forgets_a_page_that_stopped_renewing(redis_registry, monkeypatch):
    monkeypatch.setattr(watchers, "TTL_S", 0.2)
    async_to_sync(redis_registry.watch)("ACV-A")
    time.sleep(watchers.RELOAD_S + 0.3)
    assert not redis_registry.is_watched("ACV-A")


def test_redis_failure_publishes_everything_rather_than_hiding_data():
    registry = RedisWatchers("redis://127.0.0.1:1/0", "unreachable")
    assert registry.is_watched("ACV-ANY")


def test_telemetry_of_an_unwatched_device_is_not_published(monkeypatch):
    sent = []
    monkeypatch.setattr(events.dispatcher, "submit", lambda message, groups, coalesce_key=None: sent.append(groups))
    registry = LocalWatchers()
    monkeypatch.setattr(events, "watchers", lambda: registry)
    before = counts(LIVE_EVENTS).get("unwatched", 0)
    events._send(events.TELEMETRY_RECEIVED, {"seq": 1}, "ACV-1")
    events._send(events.DEVICE_STATUS_CHANGED, {"status": "offline"}, "ACV-1")
    async_to_sync(registry.watch)("ACV-1")
    events._send(events.TELEMETRY_RECEIVED, {"seq": 2}, "ACV-1")
    assert sent == [["fleet", "device.ACV-1"], ["device.ACV-1"]]
    assert counts(LIVE_EVENTS).get("unwatched", 0) == before + 1
