"""Embedded mode (`runconsole`): an in-process MQTT broker when MQTT_URL is unset, and the bridge.

The broker is amqtt, a pure-Python broker run on its own event loop thread, bound to 127.0.0.1 only.
It is for first runs and demos: it speaks MQTT 3.1.1 only, keeps nothing on disk and does not deliver
messages queued for an offline session, so the zero-loss promise holds for Mosquitto, not for it. The
bridge is the same code the `mqtt_bridge` command runs, against whichever broker is configured.
"""

import asyncio
import logging
import threading
from collections.abc import Callable

from django.conf import settings

from acuvim_console.mqtt.bridge import Bridge

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10


def broker_config(port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def start_broker() -> Callable[[], None] | None:
    """Run amqtt on 127.0.0.1:MQTT_EMBEDDED_PORT unless an external broker is configured."""
    if settings.MQTT_URL:
        return None
    from amqtt.broker import Broker

    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Broker] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            holder["broker"] = Broker(broker_config(settings.MQTT_EMBEDDED_PORT), loop=loop)
            loop.run_until_complete(holder["broker"].start())
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="mqtt-embedded-broker", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_S) or failure:
        raise RuntimeError(f"embedded MQTT broker did not start on port {settings.MQTT_EMBEDDED_PORT}: {failure}")
    log.warning(
        "embedded MQTT broker on 127.0.0.1:%d (MQTT 3.1.1, not durable: set MQTT_URL to use Mosquitto)",
        settings.MQTT_EMBEDDED_PORT,
    )

    def stop() -> None:
        try:
            asyncio.run_coroutine_threadsafe(holder["broker"].shutdown(), loop).result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)

    return stop


def start_bridge() -> Callable[[], None]:
    bridge = Bridge().start()
    return bridge.stop
