"""The simulated fleet: N gateways of this firmware on the host HAL, with fault injection.

Library use (tests) and the CLI (`python -m firmware_src.simulator`) share this module. All device work
runs on a few `Shard` threads; the public methods of `SimDevice` only flip switches or hand a call to
the device's shard, so they are safe from any thread.
"""

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.parse

from firmware_src.device.app import GatewayApp
from firmware_src.device.nvs import JsonNvs
from firmware_src.device.protocol import DeviceMode, ResetReason, TransportMode
from firmware_src.hal.host import HostHal, SimControls
from firmware_src.simulator.meter import SimulatedAcuvim
from firmware_src.simulator.shard import Shard

logger = logging.getLogger("firmware_src.sim")

PROVISIONED_KEY = "sim_provisioned"
FAULTS = (
    "wifi_down", "wifi_up", "gsm_down", "gsm_up", "all_down", "all_up", "broker_down", "broker_up",
    "crash", "crash_loop", "reboot", "set_selftest_fails", "set_slow_download", "meter_disconnect",
    "meter_connect", "provision", "factory_reset",
)


def device_id_for(prefix, index):
    """Deterministic `ACV-` + 12 upper-case hex digits from the fleet prefix and the device index."""
    digest = hashlib.sha256(f"{prefix}:{index}".encode()).hexdigest()
    return "ACV-" + digest[:12].upper()


def parse_broker_url(url):
    parsed = urllib.parse.urlparse(url if "://" in url else "mqtt://" + url)
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ValueError("broker URL must be mqtt://host:port (TLS is for the real device)")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


class SimDevice:
    """One simulated gateway. Attributes reflect the running firmware; methods inject faults."""

    def __init__(self, fleet, index, device_id, shard):
        self.fleet = fleet
        self.index = index
        self.device_id = device_id
        self.shard = shard
        self.controls = SimControls(has_gsm=fleet.has_gsm)
        self.meter = SimulatedAcuvim(seed=fleet.seed * 7919 + index)
        self.state_dir = os.path.join(fleet.state_dir, device_id)
        self.app = None
        self.hal = None
        self.state = "off"
        self._generation = 0
        self._next_reset = ResetReason.POWERON
        self._crashes_left = 0
        self.portal = None

    # -- read-only view -----------------------------------------------------------------------
    def _from_app(self, getter, default=None):
        app = self.app
        return getter(app) if app is not None else default

    @property
    def fw_version(self):
        return self._from_app(lambda app: app.fw_version())

    @property
    def transport(self):
        return self._from_app(lambda app: app.conn())

    @property
    def sd_queued(self):
        return self._from_app(lambda app: app.sd.queued if app.sd is not None else 0, 0)

    @property
    def boot_count(self):
        return self._from_app(lambda app: app.guard.boot_count, 0)

    @property
    def mode(self):
        return self._from_app(lambda app: app.mode)

    @property
    def reset_reason(self):
        return self._from_app(lambda app: app.reset_reason)

    @property
    def connected(self):
        return self._from_app(lambda app: app.session.connected, False)

    @property
    def ota_state(self):
        return self._from_app(lambda app: app.ota.record.get("state"))

    @property
    def config(self):
        return self._from_app(lambda app: app.config.current)

    @property
    def seq(self):
        return self._from_app(lambda app: app.seq, 0)

    def snapshot(self):
        """State for the control port and test failure messages."""
        return {"device_id": self.device_id, "state": self.state, "mode": self.mode, "fw": self.fw_version,
                "transport": self.transport, "connected": self.connected, "sd_queued": self.sd_queued,
                "boot": self.boot_count, "reset": self.reset_reason, "ota": self.ota_state, "seq": self.seq,
                "portal": self.portal.url if self.portal else None}

    # -- faults -------------------------------------------------------------------------------
    def wifi_down(self):
        self.controls.wifi_up = False

    def wifi_up(self):
        self.controls.wifi_up = True

    def gsm_down(self):
        self.controls.gsm_up = False

    def gsm_up(self):
        self.controls.gsm_up = True

    def all_down(self):
        self.controls.wifi_up = False
        self.controls.gsm_up = False

    def all_up(self):
        self.controls.wifi_up = True
        self.controls.gsm_up = True

    def broker_down(self):
        """The broker becomes unreachable for this device (its transport cannot get through)."""
        self.controls.broker_up = False

    def broker_up(self):
        self.controls.broker_up = True

    def meter_disconnect(self):
        self.controls.meter_connected = False

    def meter_connect(self):
        self.controls.meter_connected = True

    def set_selftest_fails(self, fails=True):
        """The next firmware image written by OTA cannot reach MQTT, so its self-test fails (rollback)."""
        self.controls.selftest_fails = bool(fails)

    def set_slow_download(self, bytes_per_s=2000):
        """Throttle OTA downloads (as over a poor GSM link); None lifts the limit."""
        self.controls.download_bytes_per_s = bytes_per_s

    def crash(self, reason=ResetReason.PANIC):
        """Die now (no DISCONNECT: the broker sends the LWT) and reboot with this reset reason."""
        if reason not in ResetReason.ALL:
            raise ValueError(f"unknown reset reason {reason!r}")
        self.shard.call_soon(lambda: self._crash(reason))

    def crash_loop(self, times=5, after_s=0.5):
        """Crash `times` times, each `after_s` after boot (the crash-loop detector should factory-reset)."""
        def begin():
            self._crashes_left = times - 1
            self._crash_after_s = after_s
            self._crash(ResetReason.PANIC)
        self.shard.call_soon(begin)

    def reboot(self):
        """A clean software restart, like the `restart` command."""
        self.shard.call_soon(lambda: self.app is not None and self.app.schedule_reboot(0.0, ResetReason.SW))

    def factory_reset(self):
        self.shard.call_soon(lambda: self.app is not None and self.app.schedule_factory_reset(0.0))

    def provision(self, changes=None):
        """What a person does on the captive portal: give WiFi/MQTT/console settings, device reboots."""
        changes = changes or self.fleet.provisioning_config(self)
        self.shard.call_soon(lambda: self.app is not None and self.app.provision(changes))

    def wait_for(self, predicate, timeout=30.0, interval=0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(interval)
        raise TimeoutError(f"{self.device_id}: condition not met within {timeout:.0f} s; state {self.snapshot()!r}")

    # -- lifecycle (shard thread) -------------------------------------------------------------
    def power_on(self, delay_s):
        self.shard.call_soon(lambda: self.shard.schedule(delay_s, self._boot))

    def _boot(self):
        self._generation += 1
        generation = self._generation
        if not os.path.exists(os.path.join(self.state_dir, "nvs.json")):
            os.makedirs(self.state_dir, exist_ok=True)
            nvs = JsonNvs(os.path.join(self.state_dir, "nvs.json"))
            nvs.set("cfg", self.fleet.provisioning_config(self))
            nvs.set(PROVISIONED_KEY, True)
        hal = HostHal(self.device_id, self.index, self.state_dir, self.meter, self.controls, self.shard,
                      self.fleet.broker, self._next_reset,
                      {"fw_version": self.fleet.fw_version, "seed": self.fleet.seed,
                       "start_portal": self.fleet.portal_starter(self)})
        app = GatewayApp(hal, self.fleet.app_options(self))
        hal.route = app.conn
        self.hal = hal
        self.app = app
        self.state = "running"
        if self._crashes_left > 0:
            self._crashes_left -= 1
            self.shard.schedule(self._crash_after_s, lambda: self._crash_if_current(generation))
        self.shard.schedule(0.0, lambda: self._tick(generation))

    def _crash_if_current(self, generation):
        if self._generation == generation:
            self._crash(ResetReason.PANIC)

    def _tick(self, generation):
        if generation != self._generation or self.app is None:
            return
        delay = self.app.tick()
        if self.hal.reboot_request is not None:
            self._restart(self.hal.reboot_request)
            return
        self.shard.schedule(delay, lambda: self._tick(generation))

    def _stop_app(self):
        self._generation += 1
        if self.portal is not None:
            self.portal.close()
            self.portal = None
        if self.app is not None:
            self.app.session.client.drop()
        self.state = "booting"

    def _restart(self, reason):
        self._stop_app()
        self._next_reset = reason
        self.shard.schedule(self.fleet.boot_delay_s, self._boot)

    def _crash(self, reason):
        logger.debug("%s: simulated %s", self.device_id, reason)
        self._restart(reason)

    def power_off(self):
        self._stop_app()
        self.state = "off"


class Fleet:
    """N simulated gateways on `ceil(N / devices_per_shard)` threads.

    Timing options shorten what a test would otherwise wait for: `link_check_s`, `switchback_s`,
    `selftest_s`, `stable_s`, `backoff_cap_s`, `boot_delay_s`.
    """

    def __init__(self, broker_url="mqtt://127.0.0.1:1883", console_url="http://127.0.0.1:8000", n=1, prefix="sim",
                 seed=1, telemetry_s=5, heartbeat_s=60, poll_s=None, telemetry_gsm_s=30, tokens=None,
                 mqtt_passwords=None, state_dir=None, fw_version="1.0.0", has_gsm=True,
                 transport_mode=TransportMode.WIFI_PREFERRED, devices_per_shard=500, start_spread_s=None,
                 topic_prefix="acuvim", link_check_s=5.0, switchback_s=30.0, selftest_s=60.0, stable_s=60.0,
                 backoff_cap_s=60.0, boot_delay_s=1.0, portal=False):
        self.broker = parse_broker_url(broker_url)
        self.console_url = console_url.rstrip("/")
        self.n = n
        self.prefix = prefix
        self.seed = seed
        self.telemetry_s = telemetry_s
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s or telemetry_s
        self.telemetry_gsm_s = telemetry_gsm_s
        self.tokens = tokens
        self.mqtt_passwords = mqtt_passwords
        self._own_state_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="acuvim-fleet-")
        self.fw_version = fw_version
        self.has_gsm = has_gsm
        self.transport_mode = transport_mode
        self.start_spread_s = min(5.0, n / 200.0) if start_spread_s is None else start_spread_s
        self.topic_prefix = topic_prefix
        self.timing = {"link_check_s": link_check_s, "switchback_s": switchback_s, "selftest_s": selftest_s,
                       "stable_s": stable_s, "backoff_cap_s": backoff_cap_s}
        self.boot_delay_s = boot_delay_s
        self.portal = portal
        shard_count = max(1, -(-n // max(1, devices_per_shard)))
        self.shards = [Shard(f"fleet-shard-{k}") for k in range(shard_count)]
        self.devices = [SimDevice(self, index, device_id_for(prefix, index), self.shards[index % shard_count])
                        for index in range(n)]
        self._by_id = {device.device_id: device for device in self.devices}
        self._started = False

    # -- per-device settings -------------------------------------------------------------------
    def _per_device(self, value, device):
        if isinstance(value, dict):
            return value.get(device.device_id)
        return value

    def provisioning_config(self, device):
        host, port = self.broker
        return {
            "wifi": {"ssid": "Plant-A", "password": "sim-wifi"},
            "mqtt": {"host": host, "port": port, "tls": False, "user": device.device_id,
                     "password": self._per_device(self.mqtt_passwords, device) or ""},
            "transport": {"mode": self.transport_mode},
            "modbus": {"poll_s": self.poll_s},
            "intervals": {"telemetry_s": self.telemetry_s, "telemetry_gsm_s": self.telemetry_gsm_s,
                          "heartbeat_s": self.heartbeat_s},
            "console_url": self.console_url,
        }

    def app_options(self, device):
        options = dict(self.timing)
        options["topic_prefix"] = self.topic_prefix
        options["token"] = self._per_device(self.tokens, device)
        options["sd_segment_bytes"] = 32768
        options["sd_cap_bytes"] = 8 * 1024 * 1024
        return options

    def portal_starter(self, device):
        if not self.portal:
            return None

        def start(app):
            from firmware_src.simulator.portal_server import PortalServer
            device.portal = PortalServer(app, device.shard)
            return device.portal
        return start

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self):
        for shard in self.shards:
            shard.start()
        spread = self.start_spread_s
        for device in self.devices:
            device.power_on(spread * device.index / max(1, self.n))
        self._started = True
        return self

    def stop(self):
        """Power every device off (abruptly: the broker sends their LWTs) and stop the threads."""
        if not self._started:
            return
        done = threading.Event()
        remaining = [len(self.shards)]
        lock = threading.Lock()

        def power_off_shard(shard):
            for device in self.devices:
                if device.shard is shard:
                    device.power_off()
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()
        for shard in self.shards:
            shard.call_soon(lambda shard=shard: power_off_shard(shard))
        done.wait(10.0)
        for shard in self.shards:
            shard.stop()
        for shard in self.shards:
            shard.join(5.0)
        self._started = False
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- access -----------------------------------------------------------------------------------
    @property
    def ids(self):
        return [device.device_id for device in self.devices]

    def device(self, device_id):
        return self._by_id[device_id]

    def inject(self, fault, device_ids=None, **kwargs):
        """Apply a fault by name to some devices (default: the whole fleet)."""
        if fault not in FAULTS:
            raise ValueError("unknown fault {!r}; known: {}".format(fault, ", ".join(FAULTS)))
        targets = self.devices if device_ids is None else [self.device(i) for i in device_ids]
        for device in targets:
            getattr(device, fault)(**kwargs)
        return len(targets)

    def wait_until(self, predicate, timeout=30.0, interval=0.1):
        """Wait until `predicate(fleet)` is true; TimeoutError with a state summary otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(interval)
        sample = [device.snapshot() for device in self.devices[:5]]
        raise TimeoutError(f"fleet condition not met within {timeout:.0f} s: {sample!r}")

    def all_connected(self):
        return all(device.connected for device in self.devices)

    def stats(self):
        return {"devices": self.n, "connected": sum(1 for d in self.devices if d.connected),
                "ap_mode": sum(1 for d in self.devices if d.mode == DeviceMode.AP),
                "sd_queued": sum(d.sd_queued for d in self.devices),
                "shard_errors": sum(s.errors for s in self.shards)}
