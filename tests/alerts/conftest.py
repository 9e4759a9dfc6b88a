"""Readings as the telemetry writer hands them to the rules, and real receivers for notifications."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from alerts.rules import cache
from telemetry.ingest import Reading
from tests.bridge.conftest import bridge_settings, start_bridge  # noqa: F401 (the bridge's fixtures, shared)
from tests.support.ports import free_port  # receivers stay inside TEST_PORTS on a shared machine


@pytest.fixture(autouse=True)
def fresh_rules():
    """Rules rolled back with a test fire no signal: every test starts from the database's rules."""
    cache.invalidate()
    yield
    cache.invalidate()


def reading(device, at, source="live", **record) -> Reading:
    return Reading(
        device_pk=device.pk,
        device_id=device.device_id,
        ts=at,
        ts_estimated=False,
        received_at=at,
        source=source,
        connection="wifi",
        seq=None,
        record={"ts": at.timestamp(), **record},
        data_json=json.dumps(record),
    )


def series(device, start, field, values, every_s=5):
    """Readings of one quantity, `every_s` seconds apart from `start`."""
    return [reading(device, start + timedelta(seconds=n * every_s), **{field: v}) for n, v in enumerate(values)]


class WebhookReceiver:
    """A real HTTP endpoint on localhost: checks each request's signature, can fail the first N on purpose."""

    def __init__(self, secret: str = "", fail_first: int = 0):
        self.secret = secret
        self.fail_first = fail_first
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    signed = receiver.verify(self.headers, body)
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "signature_ok": signed})
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(503 if failing else 200)
                self.end_headers()
                self.wfile.write(b"busy" if failing else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verify(self, headers, body: bytes) -> bool:
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(headers.get("X-Acuvim-Signature", ""), expected)

    def documents(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    receivers = []

    def start(**kwargs) -> WebhookReceiver:
        receiver = WebhookReceiver(**kwargs)
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.close()


class Mailbox:
    """aiosmtpd's handler protocol: every message the SMTP server accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield mailbox
    controller.stop()


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)
