import faulthandler
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from acuvim_console.bridge.metrics import MetricsServer
from acuvim_console.bridge.service import Bridge


class Command(BaseCommand):
    help = (
        "Run the MQTT bridge: subscribe to every device topic on MQTT_URL, store telemetry in batches, apply "
        "registrations, status, heartbeats, alerts and command responses. Stops cleanly on SIGTERM/SIGINT; "
        "SIGUSR1 prints every thread's stack to stderr."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client-id", default=settings.MQTT_CLIENT_ID, help="MQTT client id (unique per bridge)")
        parser.add_argument(
            "--shared-group",
            default=settings.MQTT_SHARED_GROUP,
            help="MQTT v5 shared subscription group, so several bridges split the load",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.MQTT_METRICS_PORT,
            help="serve Prometheus metrics on this port (MQTT_METRICS_HOST, 127.0.0.1 by default); 0: off",
        )

    def handle(self, client_id, shared_group, metrics_port, **options):
        if not 0 <= metrics_port <= 65535:
            raise CommandError(f"--metrics-port must be 0 (off) or a TCP port, not {metrics_port}")
        stop = threading.Event()
        # A bridge that stops making progress without an error (a worker waiting on something that never
        # comes) is diagnosed from outside: `kill -USR1 <pid>` prints where every thread is, and it goes on.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        try:
            server = MetricsServer(settings.MQTT_METRICS_HOST, metrics_port).start() if metrics_port else None
        except OSError as exc:
            raise CommandError(f"cannot serve metrics on {settings.MQTT_METRICS_HOST}:{metrics_port}: {exc}") from exc
        bridge = Bridge(client_id=client_id, shared_group=shared_group).start()
        try:
            stop.wait()
        finally:
            bridge.stop()
            if server:
                server.stop()
