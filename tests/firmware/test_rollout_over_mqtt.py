"""A rollout over the real broker and the real bridge, with simulated gateways that really download.

The fake gateways subscribe to `acuvim/+/cmd` on the private Mosquitto, fetch the image from the
signed URL in the `ota_update` command (resuming with a Range request, checking the SHA-256), answer
progress on `resp` and finally publish a heartbeat with the new version and OTA state `valid`, or roll
back. H3's bridge turns those messages into command and device state; the test drives
advance_rollouts() itself instead of a beat schedule.
"""

import hashlib
import json
import threading
import time
import uuid
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from django.db import connection
from django.test import Client
from paho.mqtt.enums import CallbackAPIVersion

from acuvim_console.bridge.service import Bridge
from acuvim_console.core import mqtt_publisher
from acuvim_console.protocol.enums import DeviceOtaState
from alerts.models import Alert
from firmware.models import OtaState, Rollout, RolloutStatus
from firmware.rollouts import advance_rollouts, create_rollout, resume_rollout, retry_failed
from tests.factories import make_device

pytestmark = pytest.mark.django_db(transaction=True)

OLD_VERSION = "1.2.0"


@pytest.fixture
def broker(settings, mqtt_broker):
    mqtt_publisher.close()
    settings.MQTT_URL = mqtt_broker.url
    settings.MQTT_BATCH_MAX_WAIT_MS = 20
    settings.MQTT_METRICS_INTERVAL_S = 0
    yield mqtt_broker
    mqtt_publisher.close()


@pytest.fixture
def bridge(broker):
    running = Bridge(client_id=f"test-firmware-bridge-{uuid.uuid4().hex[:8]}").start()
    assert running.connected.wait(10), "bridge did not connect"
    time.sleep(0.1)  # let the broker grant the subscriptions
    yield running
    running.stop()


class FakeGateways:
    """Gateways answering `ota_update` as the protocol says; `plans[device_id]` is a list of outcomes.

    Each OTA attempt takes the next outcome: "ok" (download, verify, reboot into the new version),
    "fail" (download error) or "rollback" (boots the new image, fails its self-test, returns to the old).
    """

    def __init__(self, port: int, plans: dict[str, list[str]]):
        self.plans = plans
        self.downloads: list[str] = []  # device id per completed download
        self.errors: list[str] = []
        self.http = Client()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-gw-{uuid.uuid4().hex[:6]}")
        subscribed = threading.Event()
        self.client.on_connect = lambda client, *_: client.subscribe("acuvim/+/cmd", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "fake gateways could not subscribe"
        self.work: list[threading.Thread] = []

    def _on_message(self, _client, _userdata, message):
        device_id = message.topic.split("/")[1]
        command = json.loads(message.payload)
        worker = threading.Thread(target=self._run_ota, args=(device_id, command), daemon=True)
        self.work.append(worker)
        worker.start()

    def _run_ota(self, device_id: str, command: dict):
        try:
            outcome = self.plans[device_id].pop(0)
            self._perform(device_id, command, outcome)
        except Exception as error:  # surfaced by the test through self.errors
            self.errors.append(f"{device_id}: {error!r}")
        finally:
            connection.close()

    def _perform(self, device_id: str, command: dict, outcome: str):
        params, base = command["params"], {"req": command["req"], "cmd": command["cmd"]}
        resp = f"acuvim/{device_id}/resp"
        self._send(resp, base | {"status": "ack"})
        if outcome == "fail":
            self._send(resp, base | {"status": "progress", "stage": "downloading", "progress": 10})
            self._send(resp, base | {"status": "error", "code": "download_failed", "msg": "HTTP 503 after 3 tries"})
            return
        image = self._download(params["url"], params["size"])
        self.downloads.append(device_id)
        self._send(resp, base | {"status": "progress", "stage": "downloading", "progress": 100})
        assert hashlib.sha256(image).hexdigest() == params["sha256"], "image checksum mismatch"
        self._send(resp, base | {"status": "progress", "stage": "verifying", "progress": 100})
        self._send(resp, base | {"status": "progress", "stage": "rebooting", "progress": 100})
        if outcome == "rollback":
            self._heartbeat(device_id, OLD_VERSION, DeviceOtaState.ROLLED_BACK, prev=params["version"])
            self._send(resp, base | {"status": "error", "code": "rolled_back", "msg": "self-test failed: no MQTT"})
        else:
            self._heartbeat(device_id, params["version"], DeviceOtaState.VALID, prev=OLD_VERSION)
            self._send(resp, base | {"status": "success", "data": {"version": params["version"]}})

    def _download(self, url: str, size: int) -> bytes:
        """Two requests, as after a dropped GSM connection: the first half, then the rest by Range."""
        parts = urlsplit(url)
        path = f"{parts.path}?{parts.query}"
        half = size // 2
        first = self.http.get(path, HTTP_RANGE=f"bytes=0-{half - 1}")
        rest = self.http.get(path, HTTP_RANGE=f"bytes={half}-")
        assert (first.status_code, rest.status_code) == (206, 206), (first.status_code, rest.status_code)
        image = b"".join(first.streaming_content) + b"".join(rest.streaming_content)
        return image

    def _heartbeat(self, device_id: str, version: str, state: str, prev: str):
        beat = {"ts": time.time(), "fw": version, "uptime": 5, "boot": 2, "ota": {"state": str(state), "prev": prev}}
        self._send(f"acuvim/{device_id}/heartbeat", beat)

    def _send(self, topic: str, payload: dict):
        self.client.publish(topic, json.dumps({"ts": time.time(), **payload}), qos=1).wait_for_publish(5)

    def close(self):
        for worker in self.work:
            worker.join(10)
        self.client.disconnect()
        self.client.loop_stop()


def advance_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        advance_rollouts()
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def states(rollout: Rollout) -> dict[str, str]:
    return dict(rollout.devices.values_list("device__device_id", "state"))


def status(rollout: Rollout) -> str:
    rollout.refresh_from_db()
    return rollout.status


def test_waves_pause_on_failures_then_resume_and_retry_finish_the_rollout(bridge, broker, make_firmware, operator):
    firmware = make_firmware("1.3.0", payload_size=300_000)
    devices = [make_device(firmware_version=OLD_VERSION) for _ in range(6)]
    ids = [d.device_id for d in devices]
    plans = {ids[0]: ["ok"], ids[1]: ["ok"], ids[2]: ["fail", "ok"], ids[3]: ["rollback", "ok"]}
    plans |= {ids[4]: ["ok"], ids[5]: ["ok"]}
    gateways = FakeGateways(broker.port, plans)
    try:
        rollout = create_rollout(firmware, devices, user=operator, wave_size=2, success_ratio=1.0, max_failures=2)
        wave = dict(rollout.devices.values_list("device__device_id", "wave"))
        assert [wave[i] for i in ids] == [1, 1, 2, 2, 3, 3]

        # Wave 1 succeeds: both devices downloaded, rebooted and reported 1.3.0 valid; wave 2 starts.
        assert advance_until(lambda: states(rollout)[ids[0]] == states(rollout)[ids[1]] == OtaState.SUCCEEDED)
        # Wave 2: one download fails, one rolls back: two failures reach the limit and the rollout pauses.
        assert advance_until(lambda: status(rollout) == RolloutStatus.PAUSED), (states(rollout), gateways.errors)
        assert rollout.pause_reason == "2 devices failed; the limit is 2"
        third, fourth = rollout.devices.get(device=devices[2]), rollout.devices.get(device=devices[3])
        assert third.state == OtaState.FAILED and "download_failed" in third.reason
        assert fourth.state == OtaState.ROLLED_BACK and "self-test failed" in fourth.reason
        devices[3].refresh_from_db()
        assert (devices[3].firmware_version, devices[3].ota_state) == (OLD_VERSION, DeviceOtaState.ROLLED_BACK)
        assert Alert.objects.filter(device=devices[3], alert_type="ota_rolled_back").exists()
        assert states(rollout)[ids[4]] == OtaState.QUEUED  # wave 3 held back while paused

        # Resume accepts wave 2's shortfall: wave 3 goes out and succeeds.
        resume_rollout(rollout, user=operator)
        assert advance_until(lambda: states(rollout)[ids[4]] == states(rollout)[ids[5]] == OtaState.SUCCEEDED)
        # Retry the two failed devices: this time they update, and the rollout completes.
        assert retry_failed(rollout, user=operator) == 2
        assert advance_until(lambda: status(rollout) == RolloutStatus.COMPLETED), (states(rollout), gateways.errors)
    finally:
        gateways.close()
    assert gateways.errors == []
    assert set(states(rollout).values()) == {OtaState.SUCCEEDED}
    for device in devices:
        device.refresh_from_db()
        assert (device.firmware_version, device.ota_state) == ("1.3.0", DeviceOtaState.VALID)
    # The rolled-back device fetched the image twice; the one whose download failed only on its retry.
    assert sorted(gateways.downloads) == sorted([*ids, ids[3]])
