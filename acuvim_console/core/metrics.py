"""The console's one metrics registry: every counter, gauge and histogram of every process, defined here once.

Each process (web, bridge, embedded `runconsole`) fills the metrics of what it does and exposes the whole
registry in Prometheus' text format: the web at `/metrics`, the bridge on `--metrics-port`. A metric a
process never touches stays at zero there, so a dashboard sums the same names over every target.

Counts that live in the database (commands by status, rollouts by status) are not counted by any process:
`DatabaseCounts` collectors read them when scraped, so they are right whichever process made the change.
They sit in a registry of their own, `DATABASE`, that only the web's `/metrics` serves (with queries on
the apps' models bound in acuvim_console.web_metrics): served by every process they would be counted
once per scrape target.

This module imports no app (only Django's settings and prometheus_client), so every app may use it.
Hot paths take a labelled child once (`Children(METRIC)[value]`) rather than calling `labels()` per event:
the label lookup costs more than the increment.
"""

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

disable_created_metrics()  # a `_created` series beside every counter doubles the series for nothing we read
log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # CPU seconds, resident memory, open files, start time
DATABASE = CollectorRegistry()

# --- the bridge: device messages in ---------------------------------------------------------------

MESSAGES_RECEIVED = Counter(
    "acuvim_mqtt_messages_received", "Device messages the bridge routed, by topic kind.", ["kind"], registry=REGISTRY
)
MESSAGES_REJECTED = Counter(
    "acuvim_mqtt_messages_rejected",
    "Device messages refused (and acknowledged), by reason code (docs/mqtt-protocol.md).",
    ["reason"],
    registry=REGISTRY,
)
MESSAGES_DROPPED = Counter(
    "acuvim_mqtt_messages_dropped",
    "Valid messages of devices that may not send (pending, decommissioned), by device status.",
    ["status"],
    registry=REGISTRY,
)
ROWS_STORED = Counter("acuvim_telemetry_rows_stored", "Telemetry readings newly stored.", registry=REGISTRY)
DUPLICATES = Counter(
    "acuvim_telemetry_duplicates", "Telemetry readings already stored (same device and ts): redeliveries.",
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "acuvim_telemetry_commit_seconds",
    "Time to store one telemetry batch in one transaction.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
BATCH_ROWS = Histogram(
    "acuvim_telemetry_batch_rows",
    "Readings offered to the database per telemetry batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
    registry=REGISTRY,
)
LAG_SECONDS = Histogram(
    "acuvim_telemetry_lag_seconds",
    "Seconds from the newest live reading's device time to its commit, per batch.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "acuvim_mqtt_queue_depth",
    "Messages waiting in the bridge for a worker, by queue (telemetry, control).",
    ["queue"],
    registry=REGISTRY,
)
BRIDGE_CONNECTED = Gauge(
    "acuvim_mqtt_bridge_connected", "1 while the bridge is connected to the broker, else 0.", registry=REGISTRY
)
BRIDGE_CONNECTS = Counter("acuvim_mqtt_bridge_connects", "Successful connections to the broker.", registry=REGISTRY)
HANDLER_ERRORS = Counter(
    "acuvim_mqtt_handler_errors", "Failed attempts to handle a message (a console bug; retried).", registry=REGISTRY
)
WORKER_RESTARTS = Counter(
    "acuvim_mqtt_worker_restarts", "Bridge worker threads found dead and started again.", registry=REGISTRY
)
WORKER_STALLS = Counter(
    "acuvim_mqtt_worker_stalls",
    "Warnings that a bridge worker has been on one message or batch past MQTT_STALL_WARNING_S, by lane.",
    ["lane"],
    registry=REGISTRY,
)
LONGEST_BUSY = Gauge(
    "acuvim_mqtt_longest_busy_seconds",
    "How long the bridge worker on the oldest current message or batch has been on it (0 when idle).",
    registry=REGISTRY,
)
ACKED = Counter("acuvim_mqtt_acked", "Messages acknowledged to the broker after their commit.", registry=REGISTRY)
REDELIVERED_SKIPPED = Counter(
    "acuvim_mqtt_redelivered_skipped",
    "Queued messages of an earlier connection left to the copy the resumed session redelivers.",
    registry=REGISTRY,
)
ACKS_SKIPPED = Counter(
    "acuvim_mqtt_acks_skipped",
    "Acknowledgements left out because the connection they belong to is gone (the broker resends).",
    registry=REGISTRY,
)
HELD_FOR_ORDER = Counter(
    "acuvim_mqtt_held_for_order",
    "Readings held back until their device's earlier control message was handled.",
    registry=REGISTRY,
)
DB_ERRORS = Counter(
    "acuvim_mqtt_database_errors", "Database outages met by the bridge (each retried).", registry=REGISTRY
)

# --- live events and websockets ---------------------------------------------------------------------

LIVE_EVENTS = Counter(
    "acuvim_live_events",
    "Live events by outcome: submitted, sent, coalesced, unwatched, dropped_backlog, dropped_no_listener, "
    "send_failed.",
    ["outcome"],
    registry=REGISTRY,
)
WEBSOCKETS = Gauge(
    "acuvim_websocket_connections",
    "Open, authorised websockets of this process, by consumer (fleet, device).",
    ["consumer"],
    registry=REGISTRY,
)

# --- commands and the API ----------------------------------------------------------------------------

COMMAND_PROBLEMS = Counter(
    "acuvim_command_problems",
    "Command publishes skipped or failed, and device answers ignored, by reason.",
    ["reason"],
    registry=REGISTRY,
)
FIRMWARE_UPLOADS_REJECTED = Counter(
    "acuvim_firmware_uploads_rejected",
    "Firmware images refused at upload (admin or API), by reason.",
    ["reason"],
    registry=REGISTRY,
)
DEVICE_AUTH_REFUSED = Counter(
    "acuvim_firmware_device_auth_refused",
    "Gateway requests to the firmware endpoints refused for their device token, by reason.",
    ["reason"],
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "acuvim_http_request_seconds",
    "Time to answer an HTTP request, by URL route pattern (not the path), method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


class DatabaseCounts:
    """A gauge family whose values a query returns at scrape time: {label value: count}.

    Unbound it yields an empty family; `bind` attaches the query. Every known label value is always
    present, at 0 when no row has it, so a series does not vanish when the last row of a status does.
    With the database away the family is empty and the rest of the scrape still goes out: an outage is
    exactly when the other figures are wanted.
    """

    def __init__(self, name: str, documentation: str, label: str):
        self.name, self.documentation, self.label = name, documentation, label
        self.values: tuple[str, ...] = ()
        self._query: Callable[[], dict[str, int]] | None = None
        DATABASE.register(self)

    def bind(self, query: Callable[[], dict[str, int]], values: Iterable[str]) -> None:
        self._query, self.values = query, tuple(values)

    def describe(self):
        return [GaugeMetricFamily(self.name, self.documentation, labels=[self.label])]

    def collect(self):
        family = GaugeMetricFamily(self.name, self.documentation, labels=[self.label])
        if self._query is not None:
            try:
                counts = self._query()
            except DatabaseError as exc:
                log.warning("%s left out of the scrape: the database did not answer (%s)", self.name, exc)
                yield family
                return
            for value in dict.fromkeys([*self.values, *counts]):
                family.add_metric([value], counts.get(value, 0))
        yield family


COMMANDS = DatabaseCounts("acuvim_commands", "Commands in the database, by status (read when scraped).", "status")
ROLLOUTS = DatabaseCounts(
    "acuvim_firmware_rollouts", "Firmware rollouts in the database, by status (read when scraped).", "status"
)


class Children(dict):
    """Labelled children of one metric, created on first use and then only looked up in a dict."""

    def __init__(self, metric, values: Iterable[str] = ()):
        super().__init__()
        self.metric = metric
        for value in values:
            self[value]  # created up front: the series shows at 0 before its first event

    def __missing__(self, value: str):
        child = self[value] = self.metric.labels(value)
        return child


def exposition(*, with_database: bool = False) -> tuple[bytes, str]:
    """The registry (and, for the web, the database counts) in Prometheus' text format, and its content type."""
    body = generate_latest(REGISTRY)
    if with_database:
        body += generate_latest(DATABASE)
    return body, CONTENT_TYPE_LATEST


def scrape_refusal(authorization: str | None, client_ip: str | None) -> int | None:
    """Why a scrape is refused (401, 403) or None when it may read the metrics.

    With METRICS_TOKEN set, the request must carry `Authorization: Bearer <token>` (compared in constant
    time). Without it, only loopback clients may scrape: the figures tell an attacker how the fleet is doing.
    `client_ip` is the address of the client itself (behind a trusted proxy, the forwarded one).
    """
    token = settings.METRICS_TOKEN
    if token:
        expected = f"Bearer {token}".encode()
        return None if hmac.compare_digest((authorization or "").encode(), expected) else 401
    try:
        loopback = client_ip is not None and ipaddress.ip_address(client_ip).is_loopback
    except ValueError:
        loopback = False
    return None if loopback else 403


def counts(metric) -> dict[str, int]:
    """{label value: count} of a one-label counter or gauge, without the zeros (for logs and tests)."""
    return {
        next(iter(sample.labels.values())): int(sample.value)
        for family in metric.collect()
        for sample in family.samples
        if sample.labels and sample.value
    }


def total(metric) -> int:
    """A counter's or gauge's value, summed over its labels."""
    return int(sum(sample.value for family in metric.collect() for sample in family.samples))


def observed(histogram) -> tuple[int, float]:
    """How many values a histogram has observed and their sum."""
    samples = [sample for family in histogram.collect() for sample in family.samples]
    count = sum(sample.value for sample in samples if sample.name.endswith("_count"))
    return int(count), sum(sample.value for sample in samples if sample.name.endswith("_sum"))
