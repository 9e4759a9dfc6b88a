"""Benchmark: N simulated gateways against a private Mosquitto; prints messages/s and CPU use.

    .venv/bin/python -m firmware_src.bench_fleet --devices 1000 --telemetry-s 5 --duration 60

Messages are counted by a `mosquitto_sub` child process subscribed to the device topics. CPU is
reported as CPU seconds per wall second (1.0 = one core busy) for the simulator process and the broker.
"""

import argparse
import json
import logging
import os
import socket
import subprocess
import tempfile
import threading
import time

import psutil

from firmware_src.simulator import Fleet


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_broker(workdir):
    port = _free_port()
    conf = os.path.join(workdir, "mosquitto.conf")
    with open(conf, "w") as handle:
        handle.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"
                     "max_inflight_messages 0\npersistence false\n")
    process = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("mosquitto did not start")


class MessageCounter:
    """Counts device messages with a `mosquitto_sub` child process, so counting costs the simulator nothing."""

    def __init__(self, port):
        self.count = 0
        self.process = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "0", "-t", "acuvim/#", "-t", "devices/#",
             "-F", "%t"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for _line in self.process.stdout:
            self.count += 1

    def close(self):
        self.process.terminate()
        self.process.wait(5)


def run(devices, telemetry_s, heartbeat_s, duration, devices_per_shard):
    with tempfile.TemporaryDirectory(prefix="acuvim-bench-") as workdir:
        broker, port = start_broker(workdir)
        counter = MessageCounter(port)
        fleet = Fleet(f"mqtt://127.0.0.1:{port}", "http://127.0.0.1:1", n=devices, telemetry_s=telemetry_s,
                      heartbeat_s=heartbeat_s, state_dir=os.path.join(workdir, "fleet"),
                      devices_per_shard=devices_per_shard)
        try:
            started = time.monotonic()
            fleet.start()
            fleet.wait_until(lambda f: f.all_connected(), timeout=120)
            connect_s = time.monotonic() - started
            time.sleep(telemetry_s)  # let the boot-time burst settle
            broker_proc = psutil.Process(broker.pid)
            sim_proc = psutil.Process()
            count0 = counter.count
            wall0, sim0 = time.monotonic(), sum(sim_proc.cpu_times()[:2])
            broker0 = sum(broker_proc.cpu_times()[:2])
            time.sleep(duration)
            count1 = counter.count
            wall = time.monotonic() - wall0
            sim_cpu = (sum(sim_proc.cpu_times()[:2]) - sim0) / wall
            broker_cpu = (sum(broker_proc.cpu_times()[:2]) - broker0) / wall
            result = {
                "devices": devices, "telemetry_s": telemetry_s, "heartbeat_s": heartbeat_s, "wall_s": round(wall, 1),
                "connect_all_s": round(connect_s, 1), "msgs_per_s": round((count1 - count0) / wall, 1),
                "expected_msgs_per_s": round(devices / telemetry_s + devices / heartbeat_s, 1),
                "sim_cpu_per_wall_s": round(sim_cpu, 3), "broker_cpu_per_wall_s": round(broker_cpu, 3),
                "connected_at_end": fleet.stats()["connected"], "sd_queued_at_end": fleet.stats()["sd_queued"],
                "shard_errors": fleet.stats()["shard_errors"],
            }
        finally:
            fleet.stop()
            counter.close()
            broker.terminate()
            broker.wait(5)
    return result


def main():
    parser = argparse.ArgumentParser(description="simulated fleet throughput and CPU")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--telemetry-s", type=int, default=5)
    parser.add_argument("--heartbeat-s", type=int, default=60)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--devices-per-shard", type=int, default=500)
    args = parser.parse_args()
    logging.getLogger("firmware_src.sim").setLevel(logging.ERROR)
    print(json.dumps(run(args.devices, args.telemetry_s, args.heartbeat_s, args.duration, args.devices_per_shard)))


if __name__ == "__main__":
    main()
