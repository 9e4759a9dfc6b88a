"""Host (CPython) hardware layer: what the simulator gives one simulated gateway.

Real parts where they exist (paho-mqtt over TCP, files for NVS and the SD card, urllib for downloads),
simulated ones where they cannot (the RS485 meter, WiFi/GSM links, the flash partitions). The links'
up/down state and other faults live in `SimControls`, which the simulator flips.
"""

import contextlib
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as paho

from firmware_src.device.nvs import JsonNvs
from firmware_src.device.protocol import Conn, OtaState

logger = logging.getLogger("firmware_src.sim")


class SimControls:
    """Fault switches of one simulated device; plain attributes, safe to flip from any thread."""

    def __init__(self, has_gsm=True):
        self.wifi_up = True
        self.gsm_up = True
        self.gsm_present = has_gsm
        self.broker_up = True
        self.meter_connected = True
        self.selftest_fails = False
        self.download_bytes_per_s = None
        self.gsm_download_bytes_per_s = 20000


class HostClock:
    def __init__(self):
        self._boot = time.monotonic()
        self._offset = 0.0

    def uptime(self):
        return time.monotonic() - self._boot

    def now(self):
        return round(time.time() + self._offset, 3)

    def set_time(self, ts):
        """`sync_time` with a timestamp steps the clock; without one the host clock is already synced."""
        if ts is not None:
            self._offset = ts - time.time()

    def maintain(self, uptime, online):
        """The host clock is always set: nothing to synchronise."""


class SimLink:
    """WiFi or GSM as the simulator sees it: up or down by decree, with plausible RSSI and address."""

    def __init__(self, name, controls, index):
        self.name = name
        self.controls = controls
        self._index = index
        self.connected = False

    def present(self):
        return self.name == Conn.WIFI or self.controls.gsm_present

    def _available(self):
        if self.name == Conn.WIFI:
            return self.controls.wifi_up
        return self.controls.gsm_present and self.controls.gsm_up

    def connect(self):
        self.connected = self._available()
        return self.connected

    def is_up(self):
        return self.connected and self._available()

    def disconnect(self):
        self.connected = False

    def rssi(self):
        return -55 - self._index % 30 if self.name == Conn.WIFI else -75 - self._index % 20

    def ip(self):
        # Documentation range (RFC 5737): a label for the heartbeat, never an address anyone connects to.
        host = 1 + self._index % 250
        return f"192.0.2.{host}" if self.name == Conn.WIFI else f"198.51.100.{host}"


class HostMqttClient:
    """paho-mqtt on the simulator's shared event loop (no thread per device).

    A fresh paho client per connection keeps each connection's state clean. `route` tells which link
    the device uses right now; when that link or the broker is "down", the connection is cut without
    DISCONNECT, as a dead radio link would, so the broker publishes the device's LWT.
    """

    def __init__(self, client_id, broker_host, broker_port, loop, controls, route, window=20):
        self.client_id = client_id
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.loop = loop
        self.controls = controls
        self.route = route
        self.window = window
        self._client = None
        self._unacked = set()
        self._connected = False
        self._callbacks = None
        self._last_misc = 0.0

    def configure(self, on_connect, on_disconnect, on_message, on_publish):
        self._callbacks = (on_connect, on_disconnect, on_message, on_publish)

    def _link_alive(self):
        conn = self.route()
        if conn is None or not self.controls.broker_up:
            return False
        return self.controls.wifi_up if conn == Conn.WIFI else (self.controls.gsm_up and self.controls.gsm_present)

    def connect(self, host, port, user, password, keepalive, will_topic, will_payload, tls):
        if not self._link_alive():
            return False
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True,
                             protocol=paho.MQTTv311)
        client.max_inflight_messages_set(self.window)
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        client.username_pw_set(user, password)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.on_socket_open = self.loop.socket_opened
        client.on_socket_close = self.loop.socket_closed
        client.on_socket_register_write = self.loop.want_write
        client.on_socket_unregister_write = self.loop.done_writing
        self._client = client
        self._unacked = set()
        try:
            client.connect(self.broker_host or host, self.broker_port or port, keepalive)
        except OSError as error:
            logger.debug("%s: connect failed: %s", self.client_id, error)
            self._client = None
            return False
        return True

    def _handle_connect(self, client, userdata, flags, reason_code, properties):
        if client is not self._client:
            return
        ok = not reason_code.is_failure
        self._connected = ok
        self._callbacks[0](ok)

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties):
        if client is not self._client:
            return
        self._connected = False
        self._client = None
        # Their PUBACKs can no longer come: the app takes the records back (on_disconnected), and a stale
        # count would keep telling the soak's virtual clock to wait for acknowledgements that never arrive.
        self._unacked = set()
        self._callbacks[1]()

    def _handle_message(self, client, userdata, message):
        if client is self._client:
            self._callbacks[2](message.topic, message.payload)

    def _handle_publish(self, client, userdata, mid, reason_code, properties):
        if client is self._client and mid in self._unacked:
            self._unacked.discard(mid)
            self._callbacks[3](mid)

    def is_connected(self):
        return self._connected

    def publish(self, topic, payload, qos, retain):
        if not self._connected or not self._link_alive():
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return None
        if qos:
            self._unacked.add(info.mid)
        return info.mid

    def subscribe(self, topic, qos):
        if self._client is not None:
            self._client.subscribe(topic, qos)

    def inflight(self):
        return len(self._unacked)

    def poll(self):
        client = self._client
        if client is None:
            return
        if not self._link_alive():
            self.drop()
            return
        now = time.monotonic()
        if now - self._last_misc >= 1.0:
            self._last_misc = now
            client.loop_misc()

    def drop(self):
        client = self._client
        if client is None:
            return
        sock = client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            client.loop_read()
        if self._client is client:
            self._handle_disconnect(client, None, None, None, None)

    def disconnect(self):
        client = self._client
        if client is None:
            return
        client.disconnect()
        client.loop_write()
        if self._client is client:
            self._handle_disconnect(client, None, None, None, None)


class SimRs485:
    """The RS485 bus with one simulated Acuvim II on it; wrong serial settings give garbage, as on a real bus."""

    def __init__(self, meter, controls):
        self.meter = meter
        self.controls = controls
        self.settings = (19200, "8N1")
        self._answer = b""

    def configure(self, baud, parity):
        self.settings = (baud, parity)

    def write(self, frame):
        if not self.controls.meter_connected:
            self._answer = b""
        elif self.settings != self.meter.serial_settings:
            self._answer = b"\xff\x00\xfe" if frame else b""
        else:
            self._answer = self.meter.handle(frame) or b""

    def read(self, nbytes, timeout_ms):
        answer, self._answer = self._answer[:nbytes], b""
        return answer


class HostPartitions:
    """Two OTA slots and the bootloader's choice between them, persisted like otadata.

    Slot states follow ESP-IDF: a freshly written slot is `new`, boots as `pending_verify`, becomes
    `valid` when the app marks it, or `aborted` when it resets before doing so (the bootloader then
    boots the other slot). `broken` marks an image written while the simulator wanted a bad firmware.
    """

    SLOTS = ("ota_0", "ota_1")

    def __init__(self, root, factory_version, controls):
        self.root = root
        self.controls = controls
        os.makedirs(root, exist_ok=True)
        self._path = os.path.join(root, "otadata.json")
        try:
            with open(self._path) as handle:
                self.table = json.load(handle)
        except (OSError, ValueError):
            self.table = {"boot": "ota_0", "slots": {"ota_0": {"state": "valid", "version": factory_version},
                                                     "ota_1": {"state": "empty"}}}
        self.running = self._bootloader()
        self._save()

    def _save(self):
        tmp = self._path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.table, handle)
        os.replace(tmp, self._path)

    def _other(self, slot):
        return self.SLOTS[1] if slot == self.SLOTS[0] else self.SLOTS[0]

    def _bootloader(self):
        slots = self.table["slots"]
        chosen = self.table["boot"]
        state = slots[chosen]["state"]
        if state == "new":
            slots[chosen]["state"] = OtaState.PENDING_VERIFY
        elif state == OtaState.PENDING_VERIFY:
            slots[chosen]["state"] = "aborted"
            chosen = self._other(chosen)
        elif state != "valid":
            chosen = self._other(chosen)
        self.table["boot"] = chosen
        return chosen

    def running_version(self):
        return self.table["slots"][self.running]["version"]

    def running_state(self):
        return self.table["slots"][self.running]["state"]

    def is_broken(self):
        return bool(self.table["slots"][self.running].get("broken"))

    def other_version(self):
        other = self.table["slots"][self._other(self.running)]
        return other.get("version") if other["state"] == "valid" else None

    def open_next(self):
        return _SlotWriter(self, self._other(self.running))

    def set_boot_next(self):
        self.table["boot"] = self._other(self.running)
        self._save()

    def mark_valid(self):
        self.table["slots"][self.running]["state"] = "valid"
        self._save()

    def rollback(self):
        self.table["slots"][self.running]["state"] = "invalid"
        self.table["boot"] = self._other(self.running)
        self._save()

    def boot_other(self):
        self.table["boot"] = self._other(self.running)
        self._save()


class _SlotWriter:
    def __init__(self, partitions, slot):
        self.partitions = partitions
        self.slot = slot
        self.partitions.table["slots"][slot] = {"state": "empty"}
        self._handle = open(os.path.join(partitions.root, slot + ".bin"), "wb")  # noqa: SIM115 - closed in finish()

    def write(self, chunk):
        self._handle.write(chunk)

    def finish(self, version):
        self._handle.close()
        self.partitions.table["slots"][self.slot] = {
            "state": "new", "version": version, "broken": bool(self.partitions.controls.selftest_fails)}
        self.partitions._save()


class HttpDownload:
    """One HTTP GET into a file on its own thread (the shared loop must never block), resumable by Range."""

    def __init__(self, url, headers, path, offset, bytes_per_s):
        self.url = url
        self.headers = headers
        self.path = path
        self.offset = offset
        self.bytes_per_s = bytes_per_s
        self.received = offset
        self.total = None
        self.error = None
        self.state = "running"
        self._cancel = threading.Event()
        threading.Thread(target=self._run, name="ota-download", daemon=True).start()

    def poll(self):
        return self.state

    def cancel(self):
        self._cancel.set()

    def _run(self):
        try:
            self._fetch()
            self.state = "done"
        except (OSError, ValueError, urllib.error.URLError) as error:
            self.error = str(error)
            self.state = "failed"

    def _fetch(self):
        # The OTA command handler admits only http(s) URLs.
        request = urllib.request.Request(self.url, headers=self.headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            resumed = response.status == 206 and self.offset > 0
            length = response.headers.get("Content-Length")
            start = self.offset if resumed else 0
            self.received = start
            self.total = start + int(length) if length else None
            started = time.monotonic()
            with open(self.path, "ab" if resumed else "wb") as out:
                while True:
                    if self._cancel.is_set():
                        raise OSError("cancelled: link lost")
                    chunk = response.read(8192)
                    if not chunk:
                        break
                    out.write(chunk)
                    self.received += len(chunk)
                    if self.bytes_per_s:
                        ahead = (self.received - start) / self.bytes_per_s - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(min(ahead, 1.0))
        if self.total is not None and self.received != self.total:
            raise OSError(f"short download: {self.received} of {self.total} bytes")


class HostDownloader:
    def __init__(self, controls, route):
        self.controls = controls
        self.route = route

    def start(self, url, headers, path, offset):
        rate = self.controls.download_bytes_per_s
        if self.route() == Conn.GSM:
            rate = min(rate or self.controls.gsm_download_bytes_per_s, self.controls.gsm_download_bytes_per_s)
        return HttpDownload(url, headers, path, offset, rate)


class HostHal:
    """Everything one simulated gateway touches. `state_dir` holds its NVS, SD card and partitions."""

    def __init__(self, device_id, index, state_dir, meter, controls, loop, broker, reset_reason, options):
        self._device_id = device_id
        self.index = index
        self.controls = controls
        self.clock = HostClock()
        os.makedirs(state_dir, exist_ok=True)
        self.data_root = state_dir
        self.sd_root = os.path.join(state_dir, "sd")
        os.makedirs(self.sd_root, exist_ok=True)
        self.nvs = JsonNvs(os.path.join(state_dir, "nvs.json"))
        self.rs485 = SimRs485(meter, controls)
        self.links = {Conn.WIFI: SimLink(Conn.WIFI, controls, index), Conn.GSM: SimLink(Conn.GSM, controls, index)}
        self.partitions = HostPartitions(os.path.join(state_dir, "partitions"), options["fw_version"], controls)
        self.route = lambda: None
        self.downloader = HostDownloader(controls, lambda: self.route())
        self._loop = loop
        self._broker = broker
        self._reset_reason = reset_reason
        self._rng = random.Random(options.get("seed", 0) * 1000003 + index)
        self._heap_min = 110000
        self.reboot_request = None
        self.portal = None
        self.start_portal_fn = options.get("start_portal")

    # identity
    def device_id(self):
        return self._device_id

    def mac(self):
        digits = self._device_id[4:]
        return ":".join(digits[i:i + 2] for i in range(0, 12, 2))

    def imei(self):
        return f"86{int(self._device_id[4:], 16) % 10**13:013d}"

    def iccid(self):
        return f"8944{int(self._device_id[4:], 16) % 10**15:015d}"

    # system
    def reset_cause(self):
        return self._reset_reason

    def reboot(self, reason):
        self.reboot_request = reason

    def last_panic(self):
        """A simulated crash raises no exception, so there is no text to report."""
        return None

    def wdt_feed(self):
        """The simulator's scheduler is the watchdog: a device that stops ticking is what `crash("wdt")` models."""

    def heap(self):
        free = 90000 + self._rng.randint(-4000, 4000)
        self._heap_min = min(self._heap_min, free)
        return free, self._heap_min

    def random(self):
        return self._rng.random()

    def firmware_broken(self):
        return self.partitions.is_broken()

    def gsm_failures(self):
        """The simulated modem never fails a dial: `gsm_down` is a lost link, not a broken modem."""
        return 0

    def sd_free_kb(self):
        stats = os.statvfs(self.sd_root)
        return min(3_800_000, stats.f_bavail * stats.f_frsize // 1024)

    def log_sink(self, level, message):
        logger.log(logging.WARNING if level in ("warning", "error") else logging.DEBUG, message)

    def start_portal(self, app):
        if self.start_portal_fn is not None:
            self.portal = self.start_portal_fn(app)

    # radio
    def mqtt_client(self, client_id):
        host, port = self._broker
        return HostMqttClient(client_id, host, port, self._loop, self.controls, lambda: self.route())

    def wifi_scan(self):
        networks = [{"ssid": "Plant-A", "rssi": self.links[Conn.WIFI].rssi(), "ch": 6, "auth": "wpa2"},
                    {"ssid": "Plant-Guest", "rssi": -78, "ch": 11, "auth": "open"}]
        return networks if self.controls.wifi_up else []

    def gsm_info(self):
        if not self.controls.gsm_present:
            return {"present": False}
        return {"present": True, "registered": self.controls.gsm_up, "operator": "SimTel",
                "csq": 18 if self.controls.gsm_up else 0, "bytes_month": 0}
