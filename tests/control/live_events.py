"""Listen to live events the way admin pages do: the fleet page's group and one device page's group.

With the in-memory channel layer, events are delivered on the loop a consumer bound
(acuvim_console.core.events.dispatcher.bind_server_loop); this listener runs such a loop in a thread.
Given a layer of its own (e.g. Redis, to hear another process's events), it only listens on it.
"""

import asyncio
import threading

from channels.layers import get_channel_layer

from acuvim_console.core.events import FLEET_GROUP, device_group, dispatcher
from acuvim_console.core.watchers import watchers


class LiveEvents:
    def __init__(self, layer=None):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-live-events", daemon=True)
        self.thread.start()
        self.bound = layer is None
        self.layer = layer or get_channel_layer()
        self.fleet_channel = self._run(self.layer.new_channel())
        self.device_channel = self._run(self.layer.new_channel())
        self.memberships = [(FLEET_GROUP, self.fleet_channel)]
        self.watched = []
        self._run(self.layer.group_add(FLEET_GROUP, self.fleet_channel))
        if self.bound:
            dispatcher.bind_server_loop(self.loop)

    def _run(self, coroutine, timeout: float = 5.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def follow(self, device_id: str) -> None:
        """Also receive what a device page gets (command progress, heartbeats), watching it as the page does."""
        group = device_group(device_id)
        self._run(self.layer.group_add(group, self.device_channel))
        self._run(watchers().watch(device_id))
        self.memberships.append((group, self.device_channel))
        self.watched.append(device_id)

    def fleet(self, wait: float = 0.3) -> list[tuple[str, dict]]:
        return self._drain(self.fleet_channel, wait)

    def device(self, wait: float = 0.3) -> list[tuple[str, dict]]:
        return self._drain(self.device_channel, wait)

    def _drain(self, channel: str, wait: float) -> list[tuple[str, dict]]:
        received = []
        while True:
            try:
                message = self._run(asyncio.wait_for(self.layer.receive(channel), wait))
            except TimeoutError:
                return received
            received.append((message["event"], message["data"]))

    def close(self) -> None:
        if self.bound:
            dispatcher.bind_server_loop(None)
        for group, channel in self.memberships:
            self._run(self.layer.group_discard(group, channel))
        for device_id in self.watched:
            self._run(watchers().unwatch(device_id))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
