"""`python -m acuvim_console.bridge.health_check`: exit 0 when this console's bridge says it is online.

The container healthcheck of the bridge (docker-compose.yml). The bridge keeps a retained online/offline
message on its status topic (topics.bridge_status_topic) with an offline last will, so the broker itself
tells whether the bridge is connected; this asks the broker with the console's credentials, as the bridge
would connect.
"""

import json
import os
import sys
import threading


def bridge_online(timeout: float = 5.0) -> bool:
    from django.conf import settings

    from acuvim_console.core.mqtt_connection import broker_address, connect_options, new_client
    from acuvim_console.protocol.topics import bridge_status_topic

    address = broker_address()
    client = new_client(f"{settings.MQTT_CLIENT_ID}-health-{os.getpid()}", address, persistent=False)
    answer, state = threading.Event(), {}

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            answer.set()
        else:
            client.subscribe(bridge_status_topic(settings.MQTT_CLIENT_ID), qos=1)

    def on_message(client, userdata, message):
        try:
            state["state"] = json.loads(message.payload).get("state")
        except (ValueError, AttributeError):
            state["state"] = None
        answer.set()

    client.on_connect, client.on_message = on_connect, on_message
    try:
        client.connect(address.host, address.port, **connect_options(client, persistent=False))
    except OSError:
        return False
    client.loop_start()
    try:
        answer.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return state.get("state") == "online"


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acuvim_console.settings")
    import django

    django.setup()
    sys.exit(0 if bridge_online() else 1)
