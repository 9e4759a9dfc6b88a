"""The ceiling: a paho subscriber that does nothing but json.loads each telemetry message.

Connects exactly like the bridge (MQTT v5, persistent session, Receive Maximum 1000, QoS 1) so the
ratio bridge/bare measures what the bridge adds: validation, batching, the database and acks.
Prints one JSON line: {"received": n, "first": t, "last": t}.
"""

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--idle-timeout", type=float, default=15.0)
    parser.add_argument("--prefix", default="acuvim")
    args = parser.parse_args()

    state = {"received": 0, "first": None, "last": None}
    done = threading.Event()

    def on_message(client, userdata, message):
        json.loads(message.payload)
        now = time.time()
        if state["first"] is None:
            state["first"] = now
        state["last"] = now
        state["received"] += 1
        if state["received"] >= args.expect:
            done.set()

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe(f"{args.prefix}/+/telemetry", qos=1)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_connect = on_connect
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = 1000
    properties.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", args.port, clean_start=False, properties=properties)
    client.loop_start()
    while not done.wait(0.5):
        if state["last"] and time.time() - state["last"] > args.idle_timeout:
            break
    client.disconnect()
    client.loop_stop()
    json.dump(state, sys.stdout)


if __name__ == "__main__":
    main()
