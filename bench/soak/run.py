"""Accelerated 72-hour soak (the seed's 10.7 stability test) of the gateway firmware against the real console.

    python bench/soak/run.py [--hours 72] [--gateways 3] [--telemetry-s 5] [--heartbeat-s 60] [--database NAME]

Three GatewayApps (the firmware's own code, on the simulator's host HAL: paho-mqtt, files as NVS and SD
card, a simulated Acuvim II on the RS485 bus) run on a virtual clock through 72 simulated hours while
MQTT, the broker and the console run in real time: a private Mosquitto and `manage.py mqtt_bridge`
writing into a fresh PostgreSQL database. The seed's induced failures happen at fixed simulated times:
- gateway 0 loses WiFi for 1 h (GSM failover, batches of 6, then switch-back);
- every gateway loses the broker for 30 min (LWT, SD buffering, ordered replay);
- gateway 2 is power-cycled (no clean shutdown; a new boot from the same NVS and SD card).

The virtual clock advances by what `tick()` asks for, but stands still while a connection is being
set up or more than a few publishes wait for their PUBACK, so network round trips (real time) never
look like minutes of silence to the firmware. It also stands still at each hourly memory sample and at
the end until the gateways' last PUBACKs are in: a gateway keeps publishing while the clock runs, so
waiting for a moment when all three happen to have nothing in flight is a race that a loaded machine
loses for hours (the run then goes on far past its 72 hours). Every wait is bounded in real time, and
a run that cannot settle stops with the state of each gateway.

Checked at the end, against the console's database: every record accounted for (rows = records
emitted, each boot's seq 1..N without a gap), each gateway's memory flat within 5 % (the bytes of every
object its app reaches: its state, queues, MQTT client and buffers, sampled each simulated hour; each
container counted by what it holds, not by the table CPython kept from its fullest moment), no
unplanned reboot, every failure recovered (back on WiFi, connected, SD buffer empty), and the console's
boot count of each gateway equal to its current boot (the power-cycled one is on its second).
"""

import argparse
import collections
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import psycopg

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench import support  # noqa: E402
from bench.ingest.run import create_session  # noqa: E402
from firmware_src.device.app import GatewayApp  # noqa: E402
from firmware_src.device.nvs import JsonNvs  # noqa: E402
from firmware_src.device.protocol import Conn, ResetReason  # noqa: E402
from firmware_src.hal.host import HostHal, SimControls  # noqa: E402
from firmware_src.simulator.fleet import device_id_for  # noqa: E402
from firmware_src.simulator.meter import SimulatedAcuvim  # noqa: E402
from firmware_src.simulator.shard import Shard  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

HOUR = 3600.0
DATABASE = "acuvim_bench_soak"
PREFIX = "soak"
INFLIGHT_PAUSE = 10  # publishes awaiting PUBACK above which the virtual clock waits for the network
REAL_PAUSE_LIMIT_S = 5.0  # ...but a wait longer than this lets the clock run until the network catches up
SETTLE_LIMIT_H = 1.0  # simulated time past the end in which every gateway must be steady, or the run fails
PROGRESS_EVERY_H = 6  # a line on stderr, so a slow run is seen to move
BRIDGE_CLIENT_ID = "soak-bridge"
BRIDGE_FILTERS = ["devices/register", "devices/register/+"] + [
    f"acuvim/+/{leaf}" for leaf in ("status", "heartbeat", "telemetry", "alerts", "resp")]


class VirtualClock:
    """Wall time and uptime of one gateway, both driven by the soak's shared virtual seconds."""

    def __init__(self, world, boot_at):
        self.world = world
        self.boot_at = boot_at

    def uptime(self):
        return self.world.virtual - self.boot_at

    def now(self):
        return round(self.world.epoch + self.world.virtual, 3)

    def set_time(self, ts):
        pass

    def maintain(self, uptime, online):
        pass


class Gateway:
    def __init__(self, world, index, state_dir):
        self.world = world
        self.index = index
        self.device_id = device_id_for(PREFIX, index)
        self.state_dir = state_dir
        self.controls = SimControls(has_gsm=True)
        self.meter = SimulatedAcuvim(107 + index)
        self.boots = []  # per boot: records emitted (the app's seq at its end)
        self.app = None
        self.hal = None

    def boot(self, reset_reason):
        if self.app is not None:
            self.boots.append(self.app.seq)
        if not os.path.exists(os.path.join(self.state_dir, "nvs.json")):
            os.makedirs(self.state_dir, exist_ok=True)
            JsonNvs(os.path.join(self.state_dir, "nvs.json")).set("cfg", self.world.config(self))
        hal = HostHal(self.device_id, self.index, self.state_dir, self.meter, self.controls, self.world.shard,
                      self.world.broker, reset_reason, {"fw_version": "1.0.0", "seed": 107})
        hal.clock = VirtualClock(self.world, self.world.virtual)
        app = GatewayApp(hal, {"sd_segment_bytes": 32768, "sd_cap_bytes": 8 * 1024 * 1024, "stable_s": 60.0})
        hal.route = app.conn
        self.hal, self.app = hal, app

    def power_cycle(self):
        """Power cut: the TCP connection dies without DISCONNECT, RAM is gone, the next boot starts from NVS/SD."""
        app = self.app
        self.world.lost_in_ram += len(app._gsm_batch) + sum(len(records) for records in app._unacked_live.values())
        self.app.session.client.drop()
        self.boot(ResetReason.POWERON)

    def emitted(self):
        return [*self.boots, self.app.seq]


class World:
    def __init__(self, args, broker, state_root):
        self.args = args
        self.broker = ("127.0.0.1", broker.port)
        self.shard = Shard("soak")
        self.virtual = 0.0
        self.epoch = time.time() - args.hours * HOUR - HOUR  # every ts in the past, none in the future
        self.gateways = [Gateway(self, n, os.path.join(state_root, f"gw{n}")) for n in range(args.gateways)]
        self.events = self._schedule()
        self.last_event_h = self.events[-1][0] / HOUR
        self.lost_in_ram = 0
        self.memory = {gateway.device_id: [] for gateway in self.gateways}  # (hour, held, log lines, allocated)
        self._memory_due = set()
        self.checks = []
        self.steps = 0
        self.waits = 0  # times the clock stood still for the network
        self.waits_cut_short = 0  # ...and gave up after REAL_PAUSE_LIMIT_S
        self._waiting_since = None
        self._wait_cut = False
        self._started = None
        self.done = False
        self.error = None

    def config(self, gateway):
        return {
            "wifi": {"ssid": "Plant-A", "password": "soak"},
            "mqtt": {"host": "127.0.0.1", "port": self.broker[1], "tls": False, "user": gateway.device_id,
                     "password": ""},
            "transport": {"mode": "wifi_preferred"},
            "modbus": {"poll_s": self.args.telemetry_s},
            "intervals": {"telemetry_s": self.args.telemetry_s, "telemetry_gsm_s": 30,
                          "heartbeat_s": self.args.heartbeat_s},
        }

    def _schedule(self):
        """The seed's induced failures, spread over the run (times in virtual seconds)."""
        hours = self.args.hours
        last = self.gateways[-1]
        wifi = self.gateways[0].controls
        wifi_at, broker_at = hours * 0.15 * HOUR, hours * 0.45 * HOUR
        events = [
            (wifi_at, "wifi down on gateway 0", lambda: setattr(wifi, "wifi_up", False)),
            (wifi_at + HOUR, "wifi up on gateway 0", lambda: setattr(wifi, "wifi_up", True)),
            (broker_at, "broker unreachable", lambda: self._broker(False)),
            (broker_at + HOUR / 2, "broker reachable", lambda: self._broker(True)),
            (hours * 0.70 * HOUR, f"power cycle gateway {last.index}", last.power_cycle),
        ]
        return sorted(events, key=lambda event: event[0])

    def _broker(self, up):
        for gateway in self.gateways:
            gateway.controls.broker_up = up

    def start(self):
        self._started = time.monotonic()
        for gateway in self.gateways:
            gateway.boot(ResetReason.POWERON)
        self.shard.start()
        self.shard.call_soon(self._step)

    def _waiting_for_network(self):
        """Whether the clock should stand still for real-time network work: a CONNACK, a deep PUBACK
        queue, or, where a gateway must be seen steady (a memory sample or the end), its last PUBACKs."""
        at_end = self.virtual >= self.args.hours * HOUR
        for gateway in self.gateways:
            session = gateway.app.session
            if session.connecting_until is not None or session.inflight() > INFLIGHT_PAUSE:
                return True
            must_be_steady = at_end or gateway.device_id in self._memory_due
            if must_be_steady and self._recovered(gateway) and not self._steady(gateway):
                return True
        return False

    def _hold_clock(self):
        """True while the clock waits for the network. One wait lasts at most REAL_PAUSE_LIMIT_S; then the
        clock runs until the reason to wait has gone. (A wait restarted at every step let the clock advance
        one step per limit, so an outage with stale PUBACKs took hours.)"""
        if not self._waiting_for_network():
            self._waiting_since, self._wait_cut = None, False
            return False
        if self._wait_cut:
            return False
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = now
            self.waits += 1
        if now - self._waiting_since < REAL_PAUSE_LIMIT_S:
            return True
        self.waits_cut_short += 1
        self._wait_cut = True
        return False

    def _step(self):
        try:
            self._step_once()
        except Exception as error:  # reported by the main thread, which then stops everything
            self.error = repr(error)
            self.done = True

    def _step_once(self):
        delays = [gateway.app.tick() for gateway in self.gateways]
        for gateway in self.gateways:
            if gateway.hal.reboot_request is not None:
                raise RuntimeError(f"{gateway.device_id}: unplanned reboot ({gateway.hal.reboot_request})")
        self.steps += 1
        self._sample_memory()
        end = self.args.hours * HOUR
        if self.virtual >= end:
            if self._settled():
                self.done = True
                return
            if self.virtual >= end + SETTLE_LIMIT_H * HOUR:
                states = "; ".join(self._describe(g) for g in self.gateways if not self._steady(g))
                raise RuntimeError(f"not settled {SETTLE_LIMIT_H} h after the end: {states}")
        if self._hold_clock():
            self.shard.schedule(0.001, self._step)
            return
        hour_before = int(self.virtual // HOUR)
        self.virtual += max(0.05, min(delays))
        while self.events and self.events[0][0] <= self.virtual:
            _, name, action = self.events.pop(0)
            action()
            self.checks.append({"at_h": round(self.virtual / HOUR, 2), "event": name})
        hour = int(self.virtual // HOUR)
        if hour != hour_before:
            self._memory_due = {gateway.device_id for gateway in self.gateways}
            if hour % PROGRESS_EVERY_H == 0:
                print(f"soak: {hour} h simulated in {time.monotonic() - self._started:.0f} s, clock held "
                      f"{self.waits} times ({self.waits_cut_short} cut short)", file=sys.stderr, flush=True)
        self.shard.schedule(0.0, self._step)

    def _settled(self):
        """Past the end: every gateway back on WiFi, connected, nothing left on SD or in flight."""
        return all(self._steady(g) for g in self.gateways)

    @staticmethod
    def _recovered(gateway):
        """Connected over WiFi with nothing left to replay: what every failure must come back to."""
        app = gateway.app
        return (app.session.connected and app.conn() == Conn.WIFI and app.sd.queued == 0
                and not app._drain_inflight)

    @classmethod
    def _steady(cls, gateway):
        """Recovered, and no publish waiting for its PUBACK (so nothing of it is held in RAM)."""
        app = gateway.app
        return cls._recovered(gateway) and not app._unacked_live and app.session.inflight() == 0

    @staticmethod
    def _describe(gateway):
        app = gateway.app
        return (f"{gateway.device_id}: connected={app.session.connected} conn={app.conn()} sd_queued={app.sd.queued} "
                f"drain_inflight={len(app._drain_inflight)} unacked_live={len(app._unacked_live)} "
                f"inflight={app.session.inflight()}")

    def _sample_memory(self):
        """Once an hour per gateway, at the first moment it is steady (no outage, backlog or PUBACK pending):
        a leak shows there; what an outage holds in RAM for a while does not count as one."""
        if not self._memory_due:
            return
        hour = round(self.virtual / HOUR)
        shared = {id(self), id(self.shard), id(self.events)} | {id(g) for g in self.gateways}
        for gateway in self.gateways:
            if gateway.device_id in self._memory_due and self._steady(gateway):
                self._memory_due.discard(gateway.device_id)
                app = gateway.app
                held, allocated = reachable_bytes(app, shared)
                self.memory[gateway.device_id].append((hour, held, len(app.logs.tail(1000)), allocated))


_SHARED_KINDS = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                 types.CodeType, types.FrameType)


# Containers CPython never shrinks in place: an emptied dict, set or list keeps the table of its fullest
# moment until it is rebuilt (the gateway's in-flight maps after a burst of publishes, 1-2 KB).
_SLACK_KINDS = (dict, set, list, collections.OrderedDict, collections.deque)


def reachable_bytes(root, shared_ids):
    """(held, allocated): sys.getsizeof of everything `root` reaches, without classes, modules, code and the
    shared loop; `held` counts each container as if built afresh with what it holds now, `allocated` as it is.

    The criterion uses `held`: a table sized for the last burst is bounded by the in-flight window and
    reused by the next burst, so it moves samples by up to 1.5 KB (5 % of a 30 KB gateway) without anything
    being kept; a leak is more objects held, which `held` counts in full.
    """
    seen = set(shared_ids)
    stack = [root]
    held = allocated = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED_KINDS):
            continue
        seen.add(id(obj))
        size = sys.getsizeof(obj)
        allocated += size
        held += sys.getsizeof(type(obj)(obj)) if type(obj) in _SLACK_KINDS else size
        stack.extend(gc.get_referents(obj))
    return held, allocated


def fresh_database(database, ids):
    support.recreate_database(database)
    url = support.database_url(database)
    env = bridge_env(database, url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT_DIR, env=env, check=True)
    code = ("from devices.models import Device; "
            f"Device.objects.bulk_create([Device(device_id=i, status='online') for i in {ids!r}])")
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_DIR, env=env, check=True)
    return url


def bridge_env(database, database_url, **extra):
    env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    env.update(DATABASE_URL=database_url, DATA_DIR=f"/tmp/{database}", LOG_LEVEL="WARNING", **extra)
    return env


def wait_for_rows(url, expected, idle_s=20.0):
    last, last_change = -1, time.monotonic()
    with psycopg.connect(url, autocommit=True) as db:
        while True:
            rows = db.execute("SELECT count(*) FROM telemetry_telemetryrecord").fetchone()[0]
            if rows != last:
                last, last_change = rows, time.monotonic()
            if rows >= expected or time.monotonic() - last_change > idle_s:
                return rows
            time.sleep(0.5)


def stored_source_code(database: str, source: str) -> str:
    """What the readings table holds for `source`: one byte on PostgreSQL (telemetry.fields.ByteCodeField)."""
    support.point_django_at(database)
    import django

    django.setup()
    from telemetry.models import SOURCE_CODES

    return SOURCE_CODES[source]


def account(database, url, world):
    """Per gateway: rows stored vs records emitted, and each boot's seq run checked for gaps."""
    sd_code = stored_source_code(database, "sd")  # the protocol's word for a record replayed from the SD card
    result = {}
    with psycopg.connect(url, autocommit=True) as db:
        for gateway in world.gateways:
            rows = db.execute(
                "SELECT t.seq, t.ts_estimated, t.source FROM telemetry_telemetryrecord t "
                "JOIN devices_device d ON d.id = t.device_id WHERE d.device_id = %s ORDER BY t.ts",
                [gateway.device_id]).fetchall()
            runs, current = [], []
            for seq, _estimated, _source in rows:
                if current and seq <= current[-1]:
                    runs.append(current)
                    current = []
                current.append(seq)
            runs.append(current)
            emitted = gateway.emitted()
            gaps = sum(n - len(set(run)) for n, run in zip(emitted, runs, strict=False))
            status = db.execute("SELECT status, boot_count FROM devices_device WHERE device_id = %s",
                                [gateway.device_id]).fetchone()
            result[gateway.device_id] = {
                "emitted": sum(emitted), "stored": len(rows), "boots": len(emitted),
                "seq_runs_complete": [run == list(range(1, n + 1)) for n, run in zip(emitted, runs, strict=False)],
                "missing": gaps, "estimated_ts": sum(1 for r in rows if r[1]),
                "from_sd": sum(1 for r in rows if r[2] == sd_code),
                "console_status": status[0] if status else None, "console_boot": status[1] if status else None,
                "reconnects": gateway.app.session.reconnects, "transport_switches": gateway.app.transport.switches,
                "modbus_errors": gateway.app.modbus.errors, "lost_records": gateway.app.lost_records,
            }  # fmt: skip
    return result


def memory_flat(samples, since_h):
    """(median bytes, largest deviation from it in %) of the hourly samples from `since_h` on."""
    values = sorted(value for hour, value, *_ in samples if hour >= since_h)
    if not values:
        return None, None
    median = values[len(values) // 2]
    return median, 100.0 * max(abs(values[0] - median), abs(values[-1] - median)) / median


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=72.0)
    parser.add_argument("--gateways", type=int, default=3)
    parser.add_argument("--telemetry-s", type=int, default=5)
    parser.add_argument("--heartbeat-s", type=int, default=60)
    parser.add_argument("--database", default=DATABASE, help="dropped and created afresh (default %(default)s)")
    args = parser.parse_args()
    ids = [device_id_for(PREFIX, n) for n in range(args.gateways)]
    url = fresh_database(args.database, ids)
    with tempfile.TemporaryDirectory() as workdir:
        broker = Mosquitto(workdir=Path(workdir) / "broker").start()
        # The bridge's persistent session exists before the first gateway boots, so nothing published
        # while Django starts is missed (the console relies on the same session in production).
        create_session(broker.port, BRIDGE_CLIENT_ID, BRIDGE_FILTERS)
        env = bridge_env(args.database, url, MQTT_URL=broker.url, MQTT_CLIENT_ID=BRIDGE_CLIENT_ID)
        bridge = subprocess.Popen([sys.executable, "manage.py", "mqtt_bridge"], cwd=PROJECT_DIR, env=env,
                                  stdout=subprocess.DEVNULL)
        try:
            world = World(args, broker, os.path.join(workdir, "gateways"))
            started = time.monotonic()
            world.start()
            while not world.done:
                time.sleep(0.5)
            wall = time.monotonic() - started
            world.shard.stop()
            world.shard.join(10)
            if world.error:
                raise SystemExit(f"soak stopped: {world.error}")
            emitted = sum(sum(g.emitted()) for g in world.gateways)
            stored = wait_for_rows(url, emitted)
            if stored < emitted:  # what the broker saw of the bridge says whether it is still connected
                print(f"soak: the console stopped at {stored} of {emitted} rows; broker log:\n{broker.log_tail()}\n"
                      "soak: the bridge's threads:", file=sys.stderr, flush=True)
                bridge.send_signal(signal.SIGUSR1)  # its stacks, on the stderr it shares with us
                time.sleep(1)
            catch_up = time.monotonic() - started - wall
            per_gateway = account(args.database, url, world)
        finally:
            bridge.terminate()
            bridge.wait(30)
            broker.stop()
    # Flat from an hour after the last induced failure on: before that, every outage adds its warnings
    # to the 100-line log ring (bounded, a step and then flat), and the power cycle starts a fresh one.
    since_h = world.last_event_h + 1
    memory = {}
    for device_id, samples in world.memory.items():
        median, deviation = memory_flat(samples, since_h)
        _, allocated_deviation = memory_flat([(hour, allocated) for hour, _, _, allocated in samples], since_h)
        memory[device_id] = {"median_bytes": median, "max_deviation_pct": round(deviation, 2) if median else None,
                             "allocated_max_deviation_pct": round(allocated_deviation, 2) if median else None,
                             "samples": samples}
    deviation = max((m["max_deviation_pct"] for m in memory.values() if m["median_bytes"]), default=None)
    summary = {
        "hours": args.hours, "gateways": args.gateways, "wall_s": round(wall, 1), "steps": world.steps,
        "speedup": round(world.virtual / wall), "simulated_h": round(world.virtual / HOUR, 2),
        "clock_holds": world.waits, "clock_holds_cut_short": world.waits_cut_short,
        "console_catch_up_s": round(catch_up, 1), "emitted": emitted, "stored": stored,
        "in_ram_at_power_cut": world.lost_in_ram,
        "memory_flat_since_h": since_h, "memory": memory, "memory_deviation_pct": deviation,
        "events": world.checks, "per_gateway": per_gateway,
    }
    print(json.dumps(summary, indent=1))
    # A power cut loses what was only in RAM: records handed to the MQTT client but not yet acknowledged
    # (some of them reached the broker anyway) and an unsent GSM batch. Everything else must be stored,
    # and the console must know each gateway's current boot (the power-cycled one is on its second).
    ok = (emitted - world.lost_in_ram <= stored <= emitted and deviation is not None and deviation <= 5.0
          and sum(v["missing"] for v in per_gateway.values()) == emitted - stored
          and all(v["console_boot"] == v["boots"] for v in per_gateway.values()))
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
