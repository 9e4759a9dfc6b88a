"""Latency from an MQTT publish to the websocket event at a client, while the bridge ingests a busy fleet.

    .venv/bin/python bench/live/run.py [--clients 100] [--rate 5000] [--background-devices 1000]
                                       [--seconds 30] [--keep]

The real pieces, each in its own process as in production: a private Mosquitto (the project's config),
`manage.py mqtt_bridge`, uvicorn serving the ASGI app, the Redis pubsub channel layer (Redis db 13 by
default, BENCH_REDIS_URL), PostgreSQL (its own database, acuvim_bench_live, dropped at the end unless
--keep). A load process publishes `--rate` telemetry messages/s (QoS 1) for the background devices.
`--clients` websocket clients each watch one other device on /ws/devices/<id>/ (JWT auth); every watched
device gets one probe reading every 2 s, and the latency of a probe is the time from just before its
MQTT publish to its TelemetryReceived event at the client (same host clock). Prints one JSON report.
"""

import argparse
import asyncio
import heapq
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from bench.support import database_url, drop_database, recreate_database  # noqa: E402
from tests.bridge import messages  # noqa: E402

DATABASE = "acuvim_bench_live"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PROBE_PERIOD_S = 2.0
PYTHON = sys.executable


def service_env(mqtt_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(DATABASE),
        REDIS_URL=REDIS_URL,
        CHANNEL_PREFIX=f"bench-live-{os.getpid()}",
        MQTT_URL=mqtt_url,
        MQTT_CLIENT_ID=f"bench-live-bridge-{os.getpid()}",
        DJANGO_SETTINGS_MODULE="acuvim_console.settings",
        DATA_DIR=tempfile.gettempdir() + "/acuvim-bench-live",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    return env


def prepare_fleet(watched: int, background: int) -> tuple[list[str], list[str], str]:
    """Migrate, create accepted devices and a Viewer; return the watched ids, background ids and a JWT."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from acuvim_console.operators.accounts import create_user_with_role
    from acuvim_console.operators.roles import VIEWER
    from devices.models import Device

    now = timezone.now()
    watched_ids = [f"ACV-{0xA00000000000 + n:012X}" for n in range(watched)]
    background_ids = [f"ACV-{0xB00000000000 + n:012X}" for n in range(background)]
    Device.objects.bulk_create(
        Device(device_id=device_id, status="online", last_heartbeat=now, approved_at=now)
        for device_id in watched_ids + background_ids
    )
    user = create_user_with_role("bench-viewer", "bench-pass-1234", VIEWER)
    return watched_ids, background_ids, str(AccessToken.for_user(user))


def telemetry_record(seq: int) -> dict:
    """A realistic ~320-byte record (protocol "Telemetry record"), with a unique ts per device."""
    return messages.reading(
        round(time.time(), 6),
        seq,
        i2=9.8,
        i3=10.1,
        p1=2290.0,
        p2=2210.5,
        p3=2270.2,
        qt=915.8,
        st=6832.4,
        thd_v1=2.1,
        ub_v=0.4,
    )


def mqtt_client(port: int, client_id: str):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)  # paho silently loses messages beyond ~65k in flight
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def run_load(port: int, device_ids: list[str], rate: int, seconds: float, sent) -> None:
    """Publish `rate` messages/s round-robin over the background devices, paced every 10 ms."""
    client = mqtt_client(port, f"bench-live-load-{os.getpid()}")
    tick, count, seq = 0.01, 0, 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while count < due:
            device_id = device_ids[count % len(device_ids)]
            seq += 1
            client.publish(f"acuvim/{device_id}/telemetry", json.dumps(telemetry_record(seq)), qos=1)
            count += 1
        time.sleep(tick)
    sent.value = count
    time.sleep(2)  # let the in-flight window drain
    client.loop_stop()
    client.disconnect()


class Probes:
    """One reading per watched device every PROBE_PERIOD_S, staggered; remembers when each left."""

    def __init__(self, port: int, device_ids: list[str]):
        self.client = mqtt_client(port, f"bench-live-probe-{os.getpid()}")
        self.device_ids = device_ids
        self.published: dict[tuple[str, int], float] = {}
        self.stop = threading.Event()
        self.seq = 10_000_000
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        gap = PROBE_PERIOD_S / len(self.device_ids)
        while not self.stop.is_set():
            for device_id in self.device_ids:
                if self.stop.is_set():
                    break
                self.seq += 1
                payload = json.dumps(telemetry_record(self.seq))
                self.published[(device_id, self.seq)] = time.time()
                self.client.publish(f"acuvim/{device_id}/telemetry", payload, qos=1)
                time.sleep(gap)

    def halt(self):
        self.stop.set()
        self.thread.join(5)
        # Disconnect first, so the network thread sends what is still queued before it stops: stopped
        # first, the last probes of a run left about 1 s late and were measured as latency.
        self.client.disconnect()
        self.client.loop_stop()


async def watch(url: str, token: str, received: dict, ready: asyncio.Event, counter: list, closing: asyncio.Event):
    """One device page's socket; the JWT travels as the `bearer.` subprotocol (never in the URL)."""
    import websockets

    async with websockets.connect(url, max_queue=None, subprotocols=["acuvim.v1", f"bearer.{token}"]) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot", snapshot
        counter[0] += 1
        if counter[0] == counter[1]:
            ready.set()
        while not closing.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            message = json.loads(raw)
            if message.get("event") == "TelemetryReceived":
                received[(message["device_id"], message["data"]["seq"])] = now


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(args, web_port: int, mqtt_port: int, watched: list[str], background: list[str], token: str):
    received: dict[tuple[str, int], float] = {}
    ready, closing = asyncio.Event(), asyncio.Event()
    counter = [0, len(watched)]
    clients = [
        asyncio.create_task(
            watch(f"ws://127.0.0.1:{web_port}/ws/devices/{d}/", token, received, ready, counter, closing)
        )
        for d in watched
    ]
    await asyncio.wait_for(ready.wait(), 60)
    sent = multiprocessing.get_context("spawn").Value("l", 0)
    load = multiprocessing.get_context("spawn").Process(
        target=run_load, args=(mqtt_port, background, args.rate, args.warmup + args.seconds, sent)
    )
    load.start()
    await asyncio.sleep(args.warmup)
    probes = Probes(mqtt_port, watched)
    probes.thread.start()
    await asyncio.sleep(args.seconds)
    probes.halt()
    await asyncio.sleep(3)  # the last probes arrive
    closing.set()
    await asyncio.gather(*clients, return_exceptions=True)
    await asyncio.to_thread(load.join, 30)
    latencies = [(received[key] - published) * 1000 for key, published in probes.published.items() if key in received]
    return probes.published, latencies, sent.value, slowest(probes.published, received)


def slowest(published: dict, received: dict, count: int = 3) -> list[dict]:
    """The slowest probes, with when they left (seconds after the first probe), to tell start-up from load."""
    start = min(published.values(), default=0.0)
    delays = ((received[key] - at, key, at) for key, at in published.items() if key in received)
    return [
        {"device_id": key[0], "sent_at_s": round(at - start, 2), "latency_ms": round(delay * 1000, 1)}
        for delay, key, at in heapq.nlargest(count, delays)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=int, default=5000, help="background telemetry messages per second")
    parser.add_argument("--background-devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    from tests.support.mosquitto import Mosquitto, free_port, wait_for_port

    recreate_database(DATABASE)
    workdir = Path(tempfile.mkdtemp(prefix="acuvim-bench-live-"))
    broker = Mosquitto(workdir=workdir).start()
    env = service_env(broker.url)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "MQTT_URL", "DATA_DIR", "CHANNEL_PREFIX")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acuvim_console.settings")
    processes = []
    try:
        watched, background, token = prepare_fleet(args.clients, args.background_devices)
        web_port = free_port()
        uvicorn = [PYTHON, "-m", "uvicorn", "acuvim_console.asgi:application", "--host", "127.0.0.1"]
        uvicorn += ["--port", str(web_port), "--ws", "websockets-sansio", "--log-level", "warning", "--lifespan", "off"]
        processes.append(subprocess.Popen(uvicorn, cwd=PROJECT_DIR, env=env))
        processes.append(subprocess.Popen([PYTHON, "manage.py", "mqtt_bridge"], cwd=PROJECT_DIR, env=env))
        wait_for_port(web_port, 30)
        time.sleep(2)  # the bridge's subscriptions
        published, latencies, background_sent, slowest_probes = asyncio.run(
            measure(args, web_port, broker.port, watched, background, token)
        )
        from telemetry.models import TelemetryRecord

        report = {
            "clients": args.clients,
            "background_rate_target": args.rate,
            "background_sent": background_sent,
            "background_rate_achieved": round(background_sent / (args.warmup + args.seconds)),
            "rows_stored": TelemetryRecord.objects.count(),
            "probes_published": len(published),
            "probes_received": len(latencies),
            "latency_ms": {
                "p50": round(percentile(latencies, 0.50), 1),
                "p95": round(percentile(latencies, 0.95), 1),
                "p99": round(percentile(latencies, 0.99), 1),
                "mean": round(statistics.fmean(latencies), 1),
                "max": round(max(latencies), 1),
            }
            if latencies
            else None,
            "slowest_probes": slowest_probes,
        }
        print(json.dumps(report, indent=2))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.stop()
        if not args.keep:
            drop_database(DATABASE, force=True)


if __name__ == "__main__":
    main()
