"""The bridge's view of the metrics registry (acuvim_console.core.metrics): its log line and its scrape port.

The counters themselves live in the registry; `snapshot()` reads them into the compact JSON the bridge
logs every MQTT_METRICS_INTERVAL_S and on shutdown, and `MetricsServer` serves the whole registry to
Prometheus from the bridge process (`mqtt_bridge --metrics-port N` or MQTT_METRICS_PORT), under the same
rule as the web's `/metrics`: the bearer token when METRICS_TOKEN is set, else loopback clients only.
"""

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from acuvim_console.core import metrics as m

log = logging.getLogger(__name__)

_STARTED = time.monotonic()


def _mean(histogram, scale: float = 1.0) -> dict:
    count, total = m.observed(histogram)
    return {"count": count, "mean": round(total / count * scale, 3) if count else 0.0}


def snapshot() -> dict:
    """This process's bridge counters (zeros left out of the per-label ones), for the periodic log line."""
    received, rejected = m.counts(m.MESSAGES_RECEIVED), m.counts(m.MESSAGES_REJECTED)
    return {
        "uptime_s": round(time.monotonic() - _STARTED, 1),
        "received": received,
        "received_total": sum(received.values()),
        "stored": m.total(m.ROWS_STORED),
        "duplicates": m.total(m.DUPLICATES),
        "rejected": rejected,
        "rejected_total": sum(rejected.values()),
        "dropped": m.counts(m.MESSAGES_DROPPED),
        "handler_errors": m.total(m.HANDLER_ERRORS),
        "worker_restarts": m.total(m.WORKER_RESTARTS),
        "worker_stalls": m.counts(m.WORKER_STALLS),
        "longest_busy_s": m.total(m.LONGEST_BUSY),
        "held_for_order": m.total(m.HELD_FOR_ORDER),
        "db_errors": m.total(m.DB_ERRORS),
        "acked": m.total(m.ACKED),
        "acks_skipped_after_reconnect": m.total(m.ACKS_SKIPPED),
        "redelivered_skipped": m.total(m.REDELIVERED_SKIPPED),
        "connects": m.total(m.BRIDGE_CONNECTS),
        "queued": m.counts(m.QUEUE_DEPTH),
        "batch_size": _mean(m.BATCH_ROWS),
        "commit_latency_ms": _mean(m.COMMIT_SECONDS, scale=1000.0),
        "lag_s": _mean(m.LAG_SECONDS),
    }


class _ScrapeHandler(BaseHTTPRequestHandler):
    """GET /metrics (any path answers the same) with the registry; the peer address is the client's."""

    def do_GET(self):
        refusal = m.scrape_refusal(self.headers.get("Authorization"), self.client_address[0])
        if refusal:
            log.warning("metrics scrape from %s refused (%d)", self.client_address[0], refusal)
            body, content_type = f"{self.responses[refusal][0]}\n".encode(), "text/plain; charset=utf-8"
            self.send_response(refusal)
            if refusal == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="metrics"')
        else:
            body, content_type = m.exposition()
            self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        """Silent: a scrape every few seconds would fill the log (refusals are logged above)."""


class MetricsServer:
    """The registry on http://HOST:PORT/metrics, served by a daemon thread until `stop()`."""

    def __init__(self, host: str, port: int):
        self.httpd = ThreadingHTTPServer((host, port), _ScrapeHandler)
        self.httpd.daemon_threads = True
        self.address = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        log.info("bridge metrics on http://%s:%d/metrics", *self.address)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
