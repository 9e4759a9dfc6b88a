"""Browser tests: the real ASGI app under uvicorn, headless Chromium, the private Mosquitto.

The web server runs in a thread of the test process, on the production channel layer (RedisPubSubChannelLayer
on the real Redis, this session's prefix): events published by the test, or by the bridge running in this
same process, reach the server's websockets through Redis. Data is committed (transaction=True) so the
server's threads see it.
"""

import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import uvicorn
from django.conf import settings

from tests.support.channel_layer import redis_channel_layer
from tests.support.mosquitto import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
# The docs' screenshots are refreshed on purpose (`SCREENSHOT_DIR=docs/screenshots pytest -m browser`);
# an ordinary test run writes them to a scratch directory so it leaves the working tree alone.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "acuvim-screenshots").resolve()
PASSWORD = "s3cret-pass-42"

# Playwright's sync API drives its own event loop in this thread between calls; the ORM calls the tests
# make in between are ordinary blocking calls, which Django's async-safety check cannot tell apart.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class ThreadedServer:
    """uvicorn serving acuvim_console.asgi in a daemon thread, stopped cleanly at the end."""

    def __init__(self):
        self.port = free_port()
        config = uvicorn.Config(
            "acuvim_console.asgi:application",
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def console_server(django_db_setup, django_db_blocker, mqtt_broker, live_channel_prefix):
    """The console's web server; MQTT publishing (commands) goes to the private broker."""
    old_url, old_age = settings.MQTT_URL, settings.DATABASES["default"].get("CONN_MAX_AGE")
    settings.MQTT_URL = mqtt_broker.url
    # Server threads must not keep connections open, or the test database cannot be dropped afterwards.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    with django_db_blocker.unblock(), redis_channel_layer(live_channel_prefix):
        server = ThreadedServer().start()
        yield server
        server.stop()
    settings.MQTT_URL, settings.DATABASES["default"]["CONN_MAX_AGE"] = old_url, old_age


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(20_000)  # generous: the machine is shared with other test runs
    # The admin's app sidebar collapsed, as an engineer working the device list keeps it.
    context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors include Content-Security-Policy refusals (an inline script or style would show here).
    page.on(
        "console",
        lambda message: (
            errors.append(f"{page.url}: {message.text}")
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.js_errors = errors
    yield page
    context.close()
    _wait_for_server_queries()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _wait_for_server_queries(timeout: float = 10.0) -> None:
    """Until no request the closed page made is still querying the test database.

    The test's teardown truncates every table; a chart request still running in a server thread holds a
    lock on one table while the truncation holds another, and PostgreSQL breaks the deadlock by failing the
    truncation (seen on a loaded machine), which leaves rows behind for the next test.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


def log_in(page, server: ThreadedServer, user) -> None:
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/admin/")


def wait_live(page) -> None:
    """Until the page's websocket is connected and its snapshot arrived."""
    page.wait_for_selector("html[data-acv-live=on]")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")


def wait_until(check, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll from Python: the admin's CSP forbids the string evaluation page.wait_for_function uses."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def chart_points(page) -> int:
    return int(page.get_attribute(".acv-cockpit", "data-points") or 0)


@pytest.fixture(scope="module")
def bridge(console_server, mqtt_broker):
    """H3's bridge in this process, so its events reach the server's websockets on the in-memory layer."""
    from acuvim_console.bridge.service import Bridge

    old = settings.MQTT_BATCH_MAX_WAIT_MS, settings.MQTT_METRICS_INTERVAL_S
    settings.MQTT_BATCH_MAX_WAIT_MS, settings.MQTT_METRICS_INTERVAL_S = 20, 0
    running = Bridge(client_id=f"browser-bridge-{uuid.uuid4().hex[:8]}").start()
    assert running.connected.wait(10), "bridge did not connect"
    time.sleep(0.2)  # subscriptions granted
    yield running
    running.stop()
    settings.MQTT_BATCH_MAX_WAIT_MS, settings.MQTT_METRICS_INTERVAL_S = old


class FakeGateway:
    """A gateway on the real broker: publishes heartbeats and answers commands the way firmware does.

    `answers` maps a command name to the responses it sends (after an `ack`), e.g.
    {"ping": [{"status": "success", "data": {"uptime": 42}}]}.
    """

    def __init__(self, broker_port: int, device_id: str, answers: dict[str, list[dict]]):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.device_id, self.answers = device_id, answers
        self.prefix = f"{settings.MQTT_TOPIC_PREFIX}/{device_id}"
        self.received: list[dict] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-{device_id}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda client, *args: client.subscribe(f"{self.prefix}/cmd", qos=1)
        self.client.connect("127.0.0.1", broker_port)
        self.client.loop_start()
        assert subscribed.wait(10), "fake gateway could not subscribe"

    def _on_message(self, client, userdata, message):
        command = json.loads(message.payload)
        self.received.append(command)
        base = {"req": command["req"], "cmd": command["cmd"], "ts": int(time.time())}
        # Inside paho's network thread: waiting for the PUBACK here would block the thread that receives it.
        self.publish("resp", base | {"status": "ack"}, wait=False)
        for answer in self.answers.get(command["cmd"], [{"status": "success", "data": {}}]):
            self.publish("resp", base | answer, wait=False)

    def publish(self, kind: str, payload: dict, wait: bool = True) -> None:
        info = self.client.publish(f"{self.prefix}/{kind}", json.dumps(payload), qos=1)
        if wait:
            info.wait_for_publish(5)

    def heartbeat(self, **fields) -> None:
        beat = {
            "ts": int(time.time()),
            "fw": "1.2.0",
            "uptime": 3600,
            "boot": 3,
            "reset": "poweron",
            "heap": 91234,
            "heap_min": 60112,
            "conn": "wifi",
            "rssi": -61,
            "hb_s": 60,
            "sd": {"ok": True, "queued": 0, "free_kb": 3800000},
            "modbus": {"ok": True, "errors": 0},
            "mqtt_reconnects": 0,
            "ota": {"state": "valid"},
        }
        self.publish("heartbeat", beat | fields)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
