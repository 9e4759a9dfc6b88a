"""The MQTT bridge: one persistent broker session, routing every device topic to the app that owns it.

The paho network thread only routes: it reads the topic, refuses what is not a device topic and queues
the message for the telemetry writer (batched) or a control worker (in order per device). Messages are
acknowledged by those workers after their database commit (paho manual ack), and only on the
connection they arrived on: after a reconnect the broker resends whatever was unacknowledged, and
idempotent storage makes the second copy harmless.

The session is persistent (MQTT v5 clean start off with a session expiry, or 3.1.1 clean session off), so
QoS 1 messages wait in the broker while the bridge is down. The bridge announces itself on a retained
topic, `{prefix}/_console/bridge/{client_id}`, online on connect and offline by LWT or on shutdown.
"""

import json
import logging
import threading
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import DatabaseError, connection

from acuvim_console.bridge.control import ControlWorkers
from acuvim_console.bridge.dead_letters import dead_letters
from acuvim_console.bridge.device_order import DeviceOrder
from acuvim_console.bridge.directory import DeviceDirectory
from acuvim_console.bridge.messages import Inbound
from acuvim_console.bridge.metrics import snapshot
from acuvim_console.bridge.rejections import report_rejection
from acuvim_console.bridge.stall_watch import StallWatch
from acuvim_console.bridge.telemetry_writer import TelemetryWriter
from acuvim_console.core import metrics as m
from acuvim_console.core.mqtt_connection import (
    BrokerAddress,
    backoff_delay,
    broker_address,
    connect_options,
    new_client,
)
from acuvim_console.protocol.identity import is_valid_device_id
from acuvim_console.protocol.payloads import PayloadError, decode_payload
from acuvim_console.protocol.reasons import RejectReason
from acuvim_console.protocol.topics import (
    DeviceTopic,
    TopicError,
    TopicKind,
    bridge_status_topic,
    parse_topic,
    subscription_filters,
)

log = logging.getLogger(__name__)

TOPIC_CACHE_LIMIT = 100_000
HOUSEKEEPING_TICK_S = 0.25
SUPERVISE_INTERVAL_S = 1.0
DEAD_LETTER_PRUNE_INTERVAL_S = 60.0


class Bridge:
    def __init__(
        self, client_id: str | None = None, shared_group: str | None = None, address: BrokerAddress | None = None
    ):
        self.client_id = client_id or settings.MQTT_CLIENT_ID
        self.shared_group = settings.MQTT_SHARED_GROUP if shared_group is None else shared_group
        self.address = address or broker_address()
        self.status_topic = bridge_status_topic(self.client_id)
        self.stop_event = threading.Event()
        self._workers_stopped = threading.Event()
        self.connected = threading.Event()
        self._accepting = True
        self._generation = 0
        self._redelivered_below = 0  # messages of earlier connections come again: the session resumed
        self._ack_lock = threading.Lock()
        self._failed_connects = 0
        self._topics: dict[str, DeviceTopic] = {}
        self._max_payload = settings.MQTT_MAX_PAYLOAD_BYTES  # read once: settings lookups show in profiles
        self._received = m.Children(m.MESSAGES_RECEIVED, TopicKind)  # one labelled child per kind, looked up once
        directory = DeviceDirectory()
        self.order = DeviceOrder()
        self.stalls = StallWatch(settings.MQTT_STALL_WARNING_S)
        self.telemetry = TelemetryWriter(self, directory, self.order, self.stop_event, self.stalls)
        self.control = ControlWorkers(self, directory, self.order, self.stop_event, self.stalls)
        self.client = self._make_client()
        self._housekeeper = threading.Thread(target=self._keep_house, name="mqtt-housekeeping", daemon=True)
        m.QUEUE_DEPTH.labels("telemetry").set_function(self.telemetry.queue.__len__)
        m.QUEUE_DEPTH.labels("control").set_function(self.control.queued)
        m.LONGEST_BUSY.set_function(self.stalls.longest_busy_s)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Bridge":
        self.telemetry.start()
        self.control.start()
        self._housekeeper.start()
        log.info("MQTT bridge %s connecting to %s (%s)", self.client_id, self.address, self._protocol_name())
        self.client.connect_async(self.address.host, self.address.port, **connect_options(self.client, persistent=True))
        self.client.loop_start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish and acknowledge what is queued, say offline, disconnect; anything unwritten stays in the broker."""
        self._accepting = False
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in [*self.telemetry.threads, *self.control.threads]:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._workers_stopped.set()
        if self.connected.is_set():
            info = self.client.publish(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                log.warning("could not publish the bridge's offline status")
        self.client.disconnect()
        self.client.loop_stop()
        m.BRIDGE_CONNECTED.set(0)
        self._housekeeper.join(5.0)  # it writes the last rejected messages first
        log.info("MQTT bridge %s stopped: %s", self.client_id, json.dumps(snapshot()))

    def _make_client(self) -> mqtt.Client:
        client = new_client(self.client_id, self.address, persistent=True, manual_ack=True)
        client.suppress_exceptions = True
        client.will_set(self.status_topic, self._status_payload("offline", reason="lwt"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def _protocol_name(self) -> str:
        return "MQTT v5" if self.client.protocol == mqtt.MQTTv5 else "MQTT 3.1.1"

    def _status_payload(self, state: str, reason: str = "") -> str:
        payload = {"state": state, "client_id": self.client_id, "ts": round(time.time(), 3)}
        if reason:
            payload["reason"] = reason
        return json.dumps(payload)

    # --- connection callbacks (paho network thread) ---------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("MQTT broker %s refused the bridge: %s", self.address, reason_code)
            return
        with self._ack_lock:
            self._generation += 1
            if flags.session_present:
                self._redelivered_below = self._generation
        if flags.session_present:  # room for the copies, so this thread never waits on a queue of stale ones
            self.telemetry.drop_redelivered()
            self.control.drop_redelivered()
        self._failed_connects = 0
        m.BRIDGE_CONNECTS.inc()
        m.BRIDGE_CONNECTED.set(1)
        client.subscribe([(topic_filter, 1) for topic_filter in subscription_filters(self.shared_group)])
        client.publish(self.status_topic, self._status_payload("online"), qos=1, retain=True)
        self.connected.set()
        log.info(
            "MQTT bridge %s connected to %s (session %s)",
            self.client_id,
            self.address,
            "resumed" if flags.session_present else "new",
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        m.BRIDGE_CONNECTED.set(0)
        if not self.stop_event.is_set():
            log.warning("MQTT bridge disconnected from %s: %s", self.address, reason_code)
            self._wait_jitter()

    def _on_connect_fail(self, client, userdata):
        log.warning("MQTT broker %s unreachable", self.address)
        self._wait_jitter()

    def _wait_jitter(self) -> None:
        """Spread reconnects of many bridges/instances: a random pause on top of paho's doubling delay."""
        self._failed_connects += 1
        cap = settings.MQTT_RECONNECT_MAX_S / 2
        self.stop_event.wait(backoff_delay(self._failed_connects, settings.MQTT_RECONNECT_MIN_S / 2, cap))

    # --- routing (paho network thread) -------------------------------------------------------

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage):
        if not self._accepting:
            return  # shutting down: left unacknowledged, the broker redelivers it to the next session
        try:
            self._route(message)
        except Exception:
            m.HANDLER_ERRORS.inc()
            log.exception("routing of a message on %s failed", message.topic)
            self.acknowledge_one(message.mid, message.qos, self._generation)

    def _route(self, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        generation = self._generation
        parsed = self._topics.get(topic)
        if parsed is None:
            try:
                parsed = parse_topic(topic)
            except TopicError as exc:
                report_rejection(None, topic, exc.reason, str(exc))
                self.acknowledge_one(message.mid, message.qos, generation)
                return
            if len(self._topics) > TOPIC_CACHE_LIMIT:
                self._topics.clear()
            self._topics[topic] = parsed
        self._received[parsed.kind].inc()
        payload = message.payload
        if len(payload) > self._max_payload:
            report_rejection(
                parsed.device_id,
                topic,
                RejectReason.PAYLOAD_TOO_LARGE,
                f"payload of {len(payload)} bytes exceeds {self._max_payload}",
            )
            self.acknowledge_one(message.mid, message.qos, generation)
            return
        inbound = Inbound(
            kind=parsed.kind,
            device_id=parsed.device_id,
            topic=topic,
            payload=payload,
            received_at=datetime.now(UTC),
            mid=message.mid,
            qos=message.qos,
            generation=generation,
        )
        if parsed.kind == TopicKind.TELEMETRY:
            inbound.arrival, inbound.after = self.order.telemetry_arrived(parsed.device_id)
            self.telemetry.submit(inbound)
            return
        if inbound.device_id is None:  # the seed's bare `devices/register`: the id is in the payload
            inbound.device_id = registered_device_id(payload)
        inbound.arrival, inbound.after = self.order.control_arrived(
            inbound.device_id, holds_readings=parsed.kind == TopicKind.REGISTER
        )
        self.control.submit(inbound)

    # --- acknowledgements (worker threads) ---------------------------------------------------

    def acknowledge(self, messages: list[Inbound]) -> None:
        """PUBACK after the commit, but only on the connection the messages came in on."""
        acked = skipped = 0
        with self._ack_lock:
            for message in messages:
                if message.qos == 0:
                    continue
                if message.generation != self._generation:
                    skipped += 1
                    continue
                self.client.ack(message.mid, message.qos)
                acked += 1
        if acked:
            m.ACKED.inc(acked)
        if skipped:
            m.ACKS_SKIPPED.inc(skipped)

    def redelivered(self, message: Inbound) -> bool:
        """See BrokerSession.redelivered. On a new session the broker has forgotten them: they are handled."""
        return message.generation < self._redelivered_below and message.qos > 0

    def acknowledge_one(self, mid: int, qos: int, generation: int) -> None:
        with self._ack_lock:
            if qos and generation == self._generation:
                self.client.ack(mid, qos)
                m.ACKED.inc()

    # --- housekeeping: supervision, dead letters, metrics ----------------------------------------

    def _keep_house(self) -> None:
        """Restart dead workers, report stuck ones, write rejected messages, log metrics; one thread, its own
        DB connection."""
        jobs = [
            (SUPERVISE_INTERVAL_S, self.supervise),
            (SUPERVISE_INTERVAL_S, self.stalls.check),
            (settings.MQTT_DEAD_LETTER_FLUSH_S, dead_letters.flush),
            (DEAD_LETTER_PRUNE_INTERVAL_S, dead_letters.prune),
            (settings.MQTT_METRICS_INTERVAL_S, self._log_metrics),
        ]
        jobs = [(interval, job) for interval, job in jobs if interval > 0]
        due = [time.monotonic() + interval for interval, _ in jobs]
        try:
            while not self._workers_stopped.wait(HOUSEKEEPING_TICK_S):
                now = time.monotonic()
                for n, (interval, job) in enumerate(jobs):
                    if now >= due[n]:
                        due[n] = now + interval
                        self._run_job(job)
            self._run_job(dead_letters.flush)  # what the workers' last messages left
        finally:
            connection.close()

    @staticmethod
    def _run_job(job) -> None:
        try:
            job()
        except DatabaseError as exc:
            log.warning("bridge housekeeping (%s) could not reach the database: %s", job.__name__, exc)
            connection.close()
        except Exception:
            log.exception("bridge housekeeping (%s) failed", job.__name__)

    @staticmethod
    def _log_metrics() -> None:
        log.info("mqtt bridge metrics %s", json.dumps(snapshot()))

    def supervise(self) -> int:
        """Start again any worker thread that died (a bug that escaped every per-message guard)."""
        if self.stop_event.is_set():
            return 0
        restarted = self.telemetry.revive() + self.control.revive()
        if restarted:
            m.WORKER_RESTARTS.inc(restarted)
            log.error("MQTT bridge %s: %d worker thread(s) had died and were restarted", self.client_id, restarted)
        return restarted


def registered_device_id(payload: bytes) -> str | None:
    """The device a bare `devices/register` message is from, to order it with that device's other messages.

    None when the payload does not name a valid id; the control worker then refuses it with the reason.
    """
    try:
        document = decode_payload(payload)
    except PayloadError:
        return None
    device_id = document.get("device_id") if type(document) is dict else None
    return device_id if type(device_id) is str and is_valid_device_id(device_id) else None
