import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from acuvim_console.bridge.service import Bridge


class Command(BaseCommand):
    help = (
        "Run the MQTT bridge: subscribe to every device topic on MQTT_URL, store telemetry in batches, apply "
        "registrations, status, heartbeats, alerts and command responses. Stops cleanly on SIGTERM/SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client-id", default=settings.MQTT_CLIENT_ID, help="MQTT client id (unique per bridge)")
        parser.add_argument(
            "--shared-group",
            default=settings.MQTT_SHARED_GROUP,
            help="MQTT v5 shared subscription group, so several bridges split the load",
        )

    def handle(self, client_id, shared_group, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        bridge = Bridge(client_id=client_id, shared_group=shared_group).start()
        try:
            stop.wait()
        finally:
            bridge.stop()
