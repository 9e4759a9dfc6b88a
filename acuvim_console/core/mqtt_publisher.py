"""Publishing from web and worker processes (commands to devices): one lazily connected client per process.

`publish()` returns only when the broker acknowledged the message (QoS 1 PUBACK), so a caller that marks
a command `sent` knows the broker has it. When the broker cannot be reached in time it raises
PublishError and the caller keeps the command pending. The client is rebuilt after a fork (Celery
prefork workers), since a paho network thread does not survive one.
"""

import json
import logging
import os
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from django.conf import settings

from acuvim_console.core.mqtt_connection import broker_address, connect_options, new_client

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not take the message (unreachable, refused, or no acknowledgement in time)."""


class _Publisher:
    def __init__(self):
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._pid: int | None = None
        self._connected = threading.Event()

    def publish(self, topic: str, payload: dict, qos: int = 1, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        client = self._connected_client(timeout)
        body = json.dumps(payload, separators=(",", ":"))
        info = client.publish(topic, body, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        if qos == 0:
            return
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError) as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise PublishError(f"broker did not acknowledge {topic} within {timeout} s")

    def _connected_client(self, timeout: float) -> mqtt.Client:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._start()
            client = self._client
        if not self._connected.wait(timeout):
            raise PublishError(f"MQTT broker {broker_address()} unreachable")
        return client

    def _start(self) -> None:
        address = broker_address()
        client_id = f"{settings.MQTT_CLIENT_ID}-pub-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        client = new_client(client_id, address, persistent=False)
        self._connected = threading.Event()
        connected = self._connected

        def on_connect(client, userdata, flags, reason_code, properties):
            if not reason_code.is_failure:
                connected.set()
            else:
                log.warning("MQTT publisher refused by %s: %s", address, reason_code)

        def on_disconnect(client, userdata, flags, reason_code, properties):
            connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.connect_async(address.host, address.port, **connect_options(client, persistent=False))
        client.loop_start()
        self._client = client
        self._pid = os.getpid()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.disconnect()
            client.loop_stop()


_publisher = _Publisher()


def publish(topic: str, payload: dict, qos: int = 1, timeout: float = 5.0) -> None:
    """Publish JSON `payload` and wait for the broker's acknowledgement; raise PublishError otherwise."""
    _publisher.publish(topic, payload, qos=qos, timeout=timeout)


def close() -> None:
    """Disconnect the process-wide client (tests, shutdown); the next publish() connects again."""
    _publisher.close()
