"""CLI: run a simulated fleet until interrupted.

    python -m firmware_src.simulator --devices 50 --broker mqtt://127.0.0.1:1883 --console http://127.0.0.1:8000
"""

import argparse
import json
import logging
import signal
import threading
import time

from firmware_src.simulator.control import ControlServer
from firmware_src.simulator.fleet import Fleet


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m firmware_src.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--console", default="http://127.0.0.1:8000")
    parser.add_argument("--prefix", default="sim", help="device ids derive from prefix + index")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated meters")
    parser.add_argument("--telemetry-s", type=int, default=5)
    parser.add_argument("--heartbeat-s", type=int, default=60)
    parser.add_argument("--fw-version", default="1.0.0", help="version of the factory image")
    parser.add_argument("--token", help="device token for firmware downloads (same for all devices)")
    parser.add_argument("--credentials", help='JSON file {"ACV-...": {"token": "..", "mqtt_password": ".."}}')
    parser.add_argument("--state-dir", help="keep NVS/SD/partitions here across runs (default: temporary)")
    parser.add_argument("--no-gsm", action="store_true", help="boards without a modem")
    parser.add_argument("--control-port", type=int, default=0, help="loopback HTTP control port (0: pick one)")
    parser.add_argument("--portal", action="store_true", help="serve captive portals of AP-mode devices on loopback")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: run until Ctrl-C)")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def load_credentials(path):
    with open(path) as handle:
        data = json.load(handle)
    tokens = {device_id: entry.get("token") for device_id, entry in data.items()}
    passwords = {device_id: entry.get("mqtt_password") for device_id, entry in data.items()}
    return tokens, passwords


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    tokens, passwords = args.token, None
    if args.credentials:
        tokens, passwords = load_credentials(args.credentials)
    fleet = Fleet(args.broker, args.console, n=args.devices, prefix=args.prefix, seed=args.seed,
                  telemetry_s=args.telemetry_s, heartbeat_s=args.heartbeat_s, tokens=tokens, mqtt_passwords=passwords,
                  state_dir=args.state_dir, fw_version=args.fw_version, has_gsm=not args.no_gsm, portal=args.portal)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fleet.start()
    control = ControlServer(fleet, args.control_port)
    print(json.dumps({"devices": fleet.n, "control": f"http://127.0.0.1:{control.port}",
                      "first": fleet.ids[:3]}), flush=True)
    deadline = time.monotonic() + args.duration if args.duration else None
    while not stop.wait(10.0 if deadline is None else min(10.0, max(0.0, deadline - time.monotonic()))):
        if deadline is not None and time.monotonic() >= deadline:
            break
        logging.info("fleet: %s", fleet.stats())
    control.close()
    fleet.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
