"""The MQTT session: connect with LWT, retained online status, command subscription, capped backoff.

The client object comes from the HAL (paho on the host, umqtt on the ESP32) and reports back through
the callbacks given in `configure`. Telemetry flow control lives in the app; this class only knows
whether it is connected and what it may publish.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import json

from .canonical import wire_json
from .protocol import Leaf, device_topic

KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 15.0


class MqttSession:
    def __init__(self, client, device_id, prefix, clock, backoff, log, handlers, keepalive_s=KEEPALIVE_S):
        """`handlers` has on_connected(), on_disconnected(), on_command(payload), on_published(mid).

        The client must call back only from its `poll()` (or from `drop()`), never from inside
        `connect()` or `publish()`: the app records a message id when `publish()` returns it.
        """
        self.client = client
        self.keepalive_s = keepalive_s
        self.device_id = device_id
        self.prefix = prefix
        self.clock = clock
        self.backoff = backoff
        self.log = log
        self.handlers = handlers
        self.connected = False
        self.connecting_until = None
        self.next_attempt = 0.0
        self.reconnects = 0
        self.connects = 0
        self.conn = None
        client.configure(self._on_connect, self._on_disconnect, self._on_message, handlers.on_published)

    def topic(self, leaf):
        return device_topic(self.prefix, self.device_id, leaf)

    def tick(self, uptime, link_up, mqtt_cfg, conn, allowed=True):
        self.client.poll()
        if self.connected or not link_up or not allowed:
            if self.connecting_until is not None and not link_up:
                self._give_up(uptime, "link went down while connecting")
            return
        if self.connecting_until is not None:
            if uptime >= self.connecting_until:
                self.client.drop()
                self._give_up(uptime, "no CONNACK within %.0f s" % CONNECT_TIMEOUT_S)
            return
        if uptime < self.next_attempt:
            return
        self.conn = conn
        will = json.dumps({"state": "offline", "reason": "lwt"})
        started = self.client.connect(mqtt_cfg["host"], mqtt_cfg["port"], mqtt_cfg.get("user") or self.device_id,
                                      mqtt_cfg.get("password") or None, self.keepalive_s, self.topic(Leaf.STATUS), will,
                                      mqtt_cfg.get("tls", False))
        if started:
            self.connecting_until = uptime + CONNECT_TIMEOUT_S
        else:
            self._give_up(uptime, "broker %s:%s unreachable" % (mqtt_cfg["host"], mqtt_cfg["port"]))

    def _give_up(self, uptime, why):
        self.connecting_until = None
        delay = self.backoff.next_delay()
        self.next_attempt = uptime + delay
        self.log("warning", "MQTT: %s, retry in %.1f s" % (why, delay))

    def _on_connect(self, ok):
        if not ok:
            self._give_up(self.clock.uptime(), "connection refused")
            return
        self.connected = True
        self.connecting_until = None
        self.backoff.reset()
        if self.connects:
            self.reconnects += 1
        self.connects += 1
        self.client.subscribe(self.topic(Leaf.CMD), 1)
        self.publish(Leaf.STATUS, {"state": "online", "ts": self.clock.now(), "conn": self.conn}, retain=True)
        self.log("info", "MQTT connected over %s" % self.conn)
        self.handlers.on_connected()

    def _on_disconnect(self):
        was_connected = self.connected
        self.connected = False
        if was_connected:
            self.next_attempt = self.clock.uptime() + self.backoff.next_delay()
            self.log("warning", "MQTT connection lost")
            self.handlers.on_disconnected()
        elif self.connecting_until is not None:
            self._give_up(self.clock.uptime(), "connection closed before CONNACK")

    def _on_message(self, topic, payload):
        if topic == self.topic(Leaf.CMD):
            self.handlers.on_command(payload)

    def publish(self, leaf, payload, qos=1, retain=False, topic=None):
        """Returns the message id (QoS 1) or None when nothing was sent."""
        if not self.connected:
            return None
        return self.client.publish(topic or self.topic(leaf), wire_json(payload), qos, retain)

    def inflight(self):
        return self.client.inflight()

    def drop(self):
        """The link under the session died: close without DISCONNECT (the broker then sends the LWT)."""
        if self.connected or self.connecting_until is not None:
            self.client.drop()
            self._on_disconnect()
            self.connecting_until = None

    def close(self, reason):
        """Planned shutdown: say why in the retained status, then disconnect cleanly (no LWT)."""
        if self.connected:
            self.publish(Leaf.STATUS, {"state": "offline", "reason": reason, "ts": self.clock.now()}, retain=True)
            self.client.disconnect()
            self.connected = False
