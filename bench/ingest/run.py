"""Ingest benchmark: how many telemetry messages a second the bridge commits, against a bare paho ceiling.

    python bench/ingest/run.py --messages 100000 --devices 500

One run, same machine, same broker, same messages for both consumers:
1. a private Mosquitto with the project's config (deploy/mosquitto/conf.d) on a free port, and a fresh
   PostgreSQL database migrated from scratch with DEVICES accepted devices;
2. two persistent sessions are created (the bare subscriber's and the bridge's), then MESSAGES full
   protocol telemetry records are published with a bounded in-flight window, so the broker holds a copy
   of every message for each session;
3. the bare subscriber (json.loads only) drains its queue: that rate is the ceiling of one MQTT client
   process on this machine;
4. `manage.py mqtt_bridge` drains the same queue into PostgreSQL; the rate is rows committed per second
   from the first commit to the last, the loss is MESSAGES minus rows, RSS is sampled from /proc.

Draining a queued backlog measures each consumer without a publisher competing for the two cores; the
broker is shared by both phases alike.

    python bench/ingest/run.py --messages 100000 --devices 1000 --rules 1000

With `--rules N` a second bridge session holds its own copy of the messages; after the run above the
telemetry table is emptied, N alert rules are created (see create_rules for the mix) and a bridge drains
that copy too, so the CPU per message with and without rule evaluation come from the same run. With
`--control` as well, that copy is drained with no rules: the share it prints is what the second drain
costs by itself on this machine, the offset to read the rules' share against.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench import support  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

BRIDGE_CLIENT_ID = "bench-ingest-bridge"
SHARED_GROUP = "bench"
BARE_CLIENT_ID = "bench-ingest-bare"
RULES_CLIENT_ID = "bench-ingest-bridge-rules"
PUBLISH_WINDOW = 1000  # paho silently loses QoS 1 messages beyond ~65k unacknowledged: keep a window


def record(ts: float, seq: int) -> dict:
    """A full protocol telemetry record (docs/mqtt-protocol.md), as a gateway on WiFi sends it."""
    return {
        "ts": ts, "seq": seq, "src": "live", "conn": "wifi",
        "f": 50.01, "v1": 230.1, "v2": 231.0, "v3": 229.8, "vavg": 230.3, "v12": 398.6, "v23": 399.9,
        "v31": 398.1, "vlavg": 398.9, "i1": 10.2, "i2": 9.8, "i3": 10.1, "iavg": 10.03, "in": 0.3,
        "p1": 2290.0, "p2": 2210.5, "p3": 2270.2, "pt": 6770.7, "q1": 310.0, "q2": 300.1, "q3": 305.7,
        "qt": 915.8, "s1": 2310.9, "s2": 2230.8, "s3": 2290.7, "st": 6832.4, "pf1": 0.99, "pf2": 0.99,
        "pf3": 0.99, "pft": 0.99, "ep_imp": 12345.6, "ep_exp": 0.0, "eq_imp": 2345.1, "eq_exp": 0.0,
        "thd_v1": 2.1, "thd_v2": 2.0, "thd_v3": 2.2, "thd_i1": 5.3, "thd_i2": 5.1, "thd_i3": 5.6,
        "ub_v": 0.4, "ub_i": 1.8,
    }  # fmt: skip


def device_ids(count: int) -> list[str]:
    return [f"ACV-BE{n:010X}" for n in range(count)]


def fresh_database(name: str) -> str:
    support.recreate_database(name)
    url = support.database_url(name)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=PROJECT_DIR, env=django_env(url), check=True)
    return url


def django_env(database_url: str, **extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    env.update(DATABASE_URL=database_url, **extra)
    return env


def create_devices(database_url: str, count: int) -> None:
    """Accepted devices, created through the ORM so every model default applies."""
    code = (
        "import os; from devices.models import Device; "
        f"Device.objects.bulk_create([Device(device_id=i, status='online') for i in {device_ids(count)!r}])"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_DIR, env=django_env(database_url), check=True
    )


def create_rules(database_url: str, count: int, devices: int) -> None:
    """`count` enabled rules: 90 % on one device each, 9 % on ten groups of devices, 1 % fleet-wide.

    Every message then meets about 0.9 device rules, 9 of its group's and count/100 of the fleet's. The
    bench's readings never breach except on the 1 % of device rules set to (v1 > 230, 10 s), which
    go pending and then open an alert, so transitions are exercised as in a real fleet: rarely.
    """
    code = f"""
from alerts.models import AlertRule
from devices.models import Device
from groups.models import DeviceGroup
count, devices = {count}, list(Device.objects.order_by("device_id"))
groups = [DeviceGroup.objects.create(name=f"bench group {{n}}") for n in range(10)]
for n, device in enumerate(devices):
    device.group = groups[n % 10]
Device.objects.bulk_update(devices, ["group"])
rules, n_device, n_group = [], count * 90 // 100, count * 9 // 100
for n in range(count):
    breach = n < n_device and n % 100 == 0
    scope = (
        {{"device": devices[n % len(devices)]}} if n < n_device
        else {{"group": groups[n % 10]}} if n < n_device + n_group
        else {{}}
    )
    rules.append(AlertRule(name=f"bench {{n}}", field=("v1", "i2", "pft", "thd_v1")[n % 4], op=">",
                           threshold=230 if breach else 1e6, duration_s=10, **scope))
AlertRule.objects.bulk_create(rules)
"""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_DIR, env=django_env(database_url), check=True
    )


def empty_telemetry(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("TRUNCATE telemetry_telemetryrecord RESTART IDENTITY")


def create_session(port: int, client_id: str, filters: list[str]) -> None:
    """Connect once with a persistent session and subscribe, so the broker queues everything published next."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    client.subscribe([(topic_filter, 1) for topic_filter in filters])
    if not subscribed.wait(10):
        raise RuntimeError(f"{client_id}: no SUBACK")
    client.disconnect()
    client.loop_stop()


def publish(port: int, ids: list[str], messages: int) -> float:
    """Publish at full speed with at most PUBLISH_WINDOW messages unacknowledged by the broker."""
    started = time.time()
    per_device = messages // len(ids) + 1
    base = started - per_device - 60  # every device's records one second apart, all in the past
    publish_records(port, ((ids[n % len(ids)], record(base + n // len(ids), n // len(ids))) for n in range(messages)))
    return messages / (time.time() - started)


def publish_records(port: int, records, client_id: str = "bench-ingest-publisher") -> None:
    """(device_id, record) pairs as QoS 1 telemetry, at most PUBLISH_WINDOW unacknowledged, all acknowledged."""
    window = threading.BoundedSemaphore(PUBLISH_WINDOW)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(PUBLISH_WINDOW)
    client.on_publish = lambda *args: window.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    for device_id, body in records:
        if not window.acquire(timeout=60):
            raise RuntimeError("broker stopped acknowledging publishes")
        client.publish(f"acuvim/{device_id}/telemetry", json.dumps(body), qos=1)
    for _ in range(PUBLISH_WINDOW):  # wait for the last acknowledgements
        window.acquire(timeout=60)
    client.disconnect()
    client.loop_stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_bare(port: int, messages: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("bare_subscriber.py")),
            "--port",
            str(port),
            "--client-id",
            BARE_CLIENT_ID,
            "--expect",
            str(messages),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(output)
    span = (result["last"] - result["first"]) or 1e-9
    return {"received": result["received"], "rate": result["received"] / span, "seconds": span, "cpu_s": cpu}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_bridge(
    port: int, database: str, database_url: str, messages: int, count: int = 1, base_id: str = BRIDGE_CLIENT_ID
) -> dict:
    """`count` bridge processes (more than one: an MQTT v5 shared-subscription group) drain the queue."""
    bridges = []
    for n in range(count):
        env = django_env(
            database_url,
            MQTT_URL=f"mqtt://127.0.0.1:{port}",
            MQTT_CLIENT_ID=bridge_client_id(n, base_id),
            MQTT_SHARED_GROUP=SHARED_GROUP if count > 1 else "",
            LOG_LEVEL="WARNING",
        )
        bridges.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "mqtt_bridge"], cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL
            )
        )
    idle_timeout = 20.0
    first = last = None
    progress = peak_rss = bridge_cpu = cpu_at_first = progress_at_first = 0
    backends: dict[int, float] = {}
    last_change = time.time()
    devices = db_device_count(database_url)
    try:
        with psycopg.connect(database_url, autocommit=True) as db:
            last_device = db.execute(LAST_DEVICE_QUERY).fetchone()[0]
            while True:
                # Rows of the device published last in every round, times the fleet size: an index lookup
                # of a few hundred keys, where count(*) every 50 ms would scan the growing table and slow
                # down the very thing being measured. Exact at every completed round.
                current = devices * db.execute(PROGRESS_QUERY, [last_device]).fetchone()[0]
                now = time.time()
                peak_rss = max(peak_rss, max(rss_mb(bridge.pid) for bridge in bridges))
                bridge_cpu = sum(cpu_seconds(bridge.pid) for bridge in bridges)
                backends.update(database_backend_cpu(db, database))
                if current and first is None:
                    first, progress_at_first, cpu_at_first = now, current, bridge_cpu
                if current != progress:
                    progress, last, last_change = current, now, now
                if progress >= messages or now - last_change > idle_timeout:
                    break
                time.sleep(0.05)
            committed = progress - progress_at_first
            rows = db.execute("SELECT count(*) FROM telemetry_telemetryrecord").fetchone()[0]
    finally:
        for bridge in bridges:
            bridge.terminate()
        for bridge in bridges:
            bridge.wait(30)
    span = (last - first) if first and last and last > first else 1e-9
    return {
        "rows": rows,
        "rate": committed / span,
        "seconds": span,
        "rss_mb": peak_rss,
        # Django start-up excluded: CPU from the first commit on, per row committed since.
        "cpu_s": (bridge_cpu - cpu_at_first) * messages / max(1, committed),
        "postgres_cpu_s": sum(backends.values()),
    }


def bridge_client_id(n: int, base_id: str = BRIDGE_CLIENT_ID) -> str:
    return base_id if n == 0 else f"{base_id}-{n}"


# Publishing goes round-robin over device_ids(), so the highest device id is the last of every round.
LAST_DEVICE_QUERY = "SELECT id FROM devices_device ORDER BY device_id DESC LIMIT 1"
PROGRESS_QUERY = "SELECT count(*) FROM telemetry_telemetryrecord WHERE device_id = %s"


def db_device_count(database_url: str) -> int:
    with psycopg.connect(database_url) as db:
        return db.execute("SELECT count(*) FROM devices_device").fetchone()[0]


def database_backend_cpu(db: psycopg.Connection, database: str) -> dict[int, float]:
    """CPU so far of the PostgreSQL backends serving the bridge (not this monitoring connection)."""
    pids = db.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
    ).fetchall()
    usage = {}
    for (pid,) in pids:
        try:
            usage[pid] = cpu_seconds(pid)
        except OSError:
            continue
    return usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--database", default="acuvim_bench_ingest")
    parser.add_argument("--bridges", type=int, default=1, help="bridge processes; >1 uses a shared subscription")
    parser.add_argument("--rules", type=int, default=0, help="also drain a copy with this many alert rules loaded")
    parser.add_argument(
        "--control", action="store_true", help="drain that copy with no rules: what a second drain costs by itself"
    )
    args = parser.parse_args()

    ids = device_ids(args.devices)
    database_url = fresh_database(args.database)
    create_devices(database_url, args.devices)
    with tempfile.TemporaryDirectory() as workdir:
        broker = Mosquitto(workdir=Path(workdir)).start()
        try:
            bridge_filters = ["devices/register", "devices/register/+"] + [
                f"acuvim/+/{kind}" for kind in ("status", "heartbeat", "telemetry", "alerts", "resp")
            ]
            if args.bridges > 1:
                bridge_filters = [f"$share/{SHARED_GROUP}/{topic_filter}" for topic_filter in bridge_filters]
            second = bool(args.rules or args.control)
            bases = [BRIDGE_CLIENT_ID, *([RULES_CLIENT_ID] if second else [])]
            for base_id in bases:
                for n in range(args.bridges):
                    create_session(broker.port, bridge_client_id(n, base_id), bridge_filters)
            create_session(broker.port, BARE_CLIENT_ID, ["acuvim/+/telemetry"])
            publish_rate = publish(broker.port, ids, args.messages)
            print(f"published {args.messages} messages from {args.devices} devices at {publish_rate:,.0f} msg/s")
            bare = run_bare(broker.port, args.messages)
            print(f"bare paho subscriber (json.loads only): {bare['received']} in {bare['seconds']:.2f} s "
                  f"= {bare['rate']:,.0f} msg/s")  # fmt: skip
            bridge = run_bridge(broker.port, args.database, database_url, args.messages, args.bridges)
            print(f"bridge x{args.bridges} end to end (rows committed): {bridge['rows']} in {bridge['seconds']:.2f} s "
                  f"= {bridge['rate']:,.0f} rows/s, peak RSS {bridge['rss_mb']:.0f} MB")  # fmt: skip
            lost = args.messages - bridge["rows"]
            print(f"messages lost: {lost}")
            print(
                f"CPU per 1,000 messages: bare {1000 * bare['cpu_s'] / args.messages:.3f} s, bridge "
                f"{1000 * bridge['cpu_s'] / args.messages:.3f} s + PostgreSQL "
                f"{1000 * bridge['postgres_cpu_s'] / args.messages:.3f} s"
            )
            print(f"ratio bridge/bare: {bridge['rate'] / bare['rate']:.2f}")
            summary = {"messages": args.messages, "devices": args.devices, "bare": bare, "bridge": bridge, "lost": lost}
            if second:
                summary["with_rules"] = run_with_rules(args, broker.port, database_url, bridge)
            print(json.dumps(summary))
        finally:
            broker.stop()


def run_with_rules(args, port: int, database_url: str, without: dict) -> dict:
    """The same messages again, from an empty table, with args.rules rules loaded; CPU compared with `without`.

    With --control no rule is created: the share it prints is the second drain's own offset (the broker
    serving a queue held longer, the load of the moment), to read the rules' share against.
    """
    empty_telemetry(database_url)
    rules = 0 if args.control else args.rules
    if rules:
        create_rules(database_url, rules, args.devices)
    with_rules = run_bridge(port, args.database, database_url, args.messages, args.bridges, RULES_CLIENT_ID)
    share = (with_rules["cpu_s"] - without["cpu_s"]) / with_rules["cpu_s"]
    print(
        f"with {rules} rules{' (control)' if args.control else ''}: {with_rules['rows']} rows in "
        f"{with_rules['seconds']:.2f} s "
        f"= {with_rules['rate']:,.0f} rows/s; bridge CPU per 1,000 messages "
        f"{1000 * without['cpu_s'] / args.messages:.4f} s without, {1000 * with_rules['cpu_s'] / args.messages:.4f} s "
        f"with: rule evaluation {100 * share:.1f} % of the bridge's CPU"
    )
    return {**with_rules, "rule_cpu_share": share}


if __name__ == "__main__":
    main()
