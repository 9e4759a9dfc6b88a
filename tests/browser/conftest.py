"""Browser tests: the real ASGI app under uvicorn, headless Chromium, the private Mosquitto.

The web server runs in a thread of the test process, with the in-memory channel layer: events published
by the test (or by the bridge running in this same process) reach the server's websockets because
acuvim_console.events hands them to the server's event loop. Data is committed (transaction=True) so the
server's threads see it.
"""

import os
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from django.conf import settings

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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
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
            ws="websockets",
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
def console_server(django_db_setup, django_db_blocker, mqtt_broker):
    """The console's web server; MQTT publishing (commands) goes to the private broker."""
    old_url, old_age = settings.MQTT_URL, settings.DATABASES["default"].get("CONN_MAX_AGE")
    settings.MQTT_URL = mqtt_broker.url
    # Server threads must not keep connections open, or the test database cannot be dropped afterwards.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    with django_db_blocker.unblock():
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
    context.set_default_timeout(10_000)
    # The admin's app sidebar collapsed, as an engineer working the device list keeps it.
    context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


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
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def wait_until(check, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll from Python: the admin's CSP forbids the string evaluation page.wait_for_function uses."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def chart_points(page) -> int:
    return int(page.get_attribute(".acv-cockpit", "data-points") or 0)
