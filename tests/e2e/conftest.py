"""The whole system in one test process: private Mosquitto, PostgreSQL, the console and simulated gateways.

The console part is the real thing: the MQTT bridge runs in a thread of this process, commands go out
through the real mqtt_publisher, firmware downloads are served by pytest-django's live server (so
CONSOLE_BASE_URL points at it and signed links work). The gateways are the MicroPython firmware on the
host HAL (`firmware_src.simulator`), with timings shortened so a scenario fits in seconds.
Every assertion is about what the console stored, polled with a deadline.
"""

import json
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from acuvim_console.bridge.service import Bridge
from acuvim_console.core import mqtt_publisher
from acuvim_console.operators.roles import OPERATOR
from devices.registry.provisioning import provision_device
from firmware.rollouts import advance_rollouts
from firmware.uploads import upload_firmware
from firmware_src.simulator import Fleet
from firmware_src.simulator.fleet import device_id_for
from tests.factories import make_user
from tests.support.firmware_images import build_app_image

# Timings that make a scenario take seconds: links are checked every 0.3 s, the preferred link is
# probed every second, a new image has 3 s to reach the broker. `stable_s` stays long so that quick
# crashes count as a crash loop.
FAST_TIMING = {
    "link_check_s": 0.3,
    "switchback_s": 1.0,
    "selftest_s": 3.0,
    "stable_s": 30.0,
    "backoff_cap_s": 1.0,
    "boot_delay_s": 0.2,
}
FAST_INTERVALS = {"telemetry_s": 1, "heartbeat_s": 2, "telemetry_gsm_s": 2, "start_spread_s": 0.0}


def eventually(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll `predicate` (usually a DB query) until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"within {timeout:.0f} s: {what} (last value: {last!r})")


def advance_rollouts_until(predicate, timeout: float, what: str):
    """Drive the rollout engine (its periodic task) while waiting, as the scheduler would."""

    def step():
        advance_rollouts()
        return predicate()

    return eventually(step, timeout, what, interval=0.3)


@dataclass
class Console:
    broker_url: str
    broker_port: int
    url: str
    bridge: Bridge


@pytest.fixture
def console(settings, mqtt_broker, live_server, tmp_path):
    """The console wired to the private broker, serving HTTP (firmware downloads) on the live server."""
    mqtt_publisher.close()
    settings.MQTT_URL = mqtt_broker.url
    settings.MQTT_BATCH_MAX_WAIT_MS = 20
    settings.MQTT_METRICS_INTERVAL_S = 0
    settings.DEVICE_AUTO_ACCEPT = False
    settings.CONSOLE_BASE_URL = live_server.url
    settings.STORAGES = {
        **settings.STORAGES,
        "firmware": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "firmware"},
        },
    }
    bridge = Bridge(client_id=f"e2e-bridge-{uuid.uuid4().hex[:8]}").start()
    assert bridge.connected.wait(10), "the console's bridge did not connect to the broker"
    time.sleep(0.1)  # subscriptions granted before any device speaks
    yield Console(mqtt_broker.url, mqtt_broker.port, live_server.url, bridge)
    bridge.stop()
    mqtt_publisher.close()


@pytest.fixture
def operator(transactional_db):
    return make_user(OPERATOR)


@pytest.fixture
def start_fleet(console, tmp_path):
    """Start simulated gateways that the console knows: each is pre-provisioned and has its token.

    `factory_fresh=True` leaves the gateways without any config (empty NVS), so they boot into AP
    mode with the captive portal served on a loopback port. `groups` maps a device index to a group.
    """
    fleets = []

    def start(n=1, *, factory_fresh=False, groups=None, **options) -> Fleet:
        prefix = f"e2e-{uuid.uuid4().hex[:8]}"
        state_dir = tmp_path / prefix
        tokens = {}
        for index in range(n):
            device_id = device_id_for(prefix, index)
            group_name = (groups or {}).get(index, "")
            tokens[device_id] = provision_device(device_id, name=f"E2E gateway {index}", group_name=group_name).token
            if factory_fresh:
                (state_dir / device_id).mkdir(parents=True)
                (state_dir / device_id / "nvs.json").write_text("{}")
        fleet = Fleet(
            console.broker_url,
            console.url,
            n=n,
            prefix=prefix,
            tokens=tokens,
            state_dir=str(state_dir),
            portal=factory_fresh,
            **{**FAST_TIMING, **FAST_INTERVALS, **options},
        )
        fleets.append(fleet)
        return fleet.start()

    yield start
    for fleet in fleets:
        fleet.stop()


@pytest.fixture
def upload_image():
    """Upload an ESP32 app image of `version` through the console's upload service."""

    def upload(version: str):
        image = SimpleUploadedFile(f"gateway-{version}.bin", build_app_image(version))
        return upload_firmware(image, release_notes=f"e2e {version}")

    return upload


def sd_records(fleet: Fleet, device_id: str) -> list[dict]:
    """Every record in a simulated gateway's SD segments; fails on a line that is not a JSON object."""
    records = []
    for segment in sorted((Path(fleet.state_dir) / device_id / "sd" / "buffer").glob("*.jsonl")):
        for number, line in enumerate(segment.read_text().splitlines(), 1):
            if not line.strip():
                continue
            record = json.loads(line)
            assert isinstance(record, dict), f"{segment.name}:{number} is not a JSON object"
            records.append(record)
    return records


def portal_page(sim) -> str:
    """The captive-portal form a phone sees (the gateway must be in AP mode)."""
    sim.wait_for(lambda d: d.mode == "ap" and d.portal is not None, 10)
    with urllib.request.urlopen(sim.portal.url, timeout=5) as page:
        return page.read().decode()


def configure_on_portal(sim, console: Console) -> dict:
    """What the engineer does on the phone: submit WiFi, broker and console URL. Returns them as config."""
    values = {
        "wifi": {"ssid": "Plant-A", "password": "e2e-wifi-pass"},
        "mqtt": {"host": "127.0.0.1", "port": console.broker_port, "user": sim.device_id},
        "console_url": console.url,
    }
    form = {f"{section}.{key}": value for section in ("wifi", "mqtt") for key, value in values[section].items()}
    body = urllib.parse.urlencode({**form, "console_url": console.url}).encode()
    with urllib.request.urlopen(urllib.request.Request(sim.portal.url + "save", data=body), timeout=5) as answer:
        assert "Saved" in answer.read().decode()
    return values
