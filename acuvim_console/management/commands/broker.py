"""`manage.py broker`: the secured Mosquitto (TLS, dynamic security, no anonymous access) on this machine."""

import signal
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from acuvim_console.core import broker_files
from acuvim_console.core.mqtt_connection import broker_address


class Command(BaseCommand):
    help = (
        "Run Mosquitto in the foreground with TLS on --tls-port, a plain listener on 127.0.0.1:--port for the "
        "console, anonymous access off and the dynamic-security plugin. On first start it writes into --dir a "
        "development CA (ca.crt, for gateways and MQTT_CA_FILE) with a server certificate, and the plugin's "
        "document with the console's client from MQTT_URL's username and password (and the provisioning client "
        "when MQTT_PROVISIONING_PASSWORD is set). Later starts keep both."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", required=True, type=Path, help="the broker's certificates, accounts and data")
        parser.add_argument("--port", type=int, default=1883, help="plain listener on 127.0.0.1 (the console)")
        parser.add_argument("--tls-port", type=int, default=8883, help="TLS listener (gateways)")
        parser.add_argument("--tls-host", default="0.0.0.0", help="address of the TLS listener")
        parser.add_argument(
            "--hostname",
            action="append",
            default=[],
            help="name or address gateways use for the broker, in the development certificate (repeatable; "
            "default: this machine's name, localhost, 127.0.0.1)",
        )
        parser.add_argument("--certfile", type=Path, help="a real certificate chain instead of the development one")
        parser.add_argument("--keyfile", type=Path, help="the key of --certfile")
        parser.add_argument(
            "--init-only",
            action="store_true",
            help="write the certificates and accounts if missing, then exit (docker compose's broker-init)",
        )

    def handle(self, *args, dir, port, tls_port, tls_host, hostname, certfile, keyfile, init_only, **options):
        if bool(certfile) != bool(keyfile):
            raise CommandError("--certfile and --keyfile go together")
        directory = dir.resolve()
        hostnames = hostname or [socket.gethostname(), "localhost", "127.0.0.1"]
        try:
            self._write_files(directory, hostnames, real=bool(certfile))
        except OSError as exc:
            raise CommandError(f"cannot write the broker's files into {directory}: {exc}") from None
        if init_only:
            return
        broker = broker_files.SecuredMosquitto(
            workdir=directory, port=port, tls_port=tls_port, tls_host=tls_host, certfile=certfile, keyfile=keyfile
        )
        try:
            broker.start()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        listening = f"TLS on {tls_host}:{tls_port}, plain on 127.0.0.1:{port}"
        self.stdout.write(self.style.SUCCESS(f"Mosquitto: {listening}, log {broker.log_path}"))
        self.stdout.write(f"CA for gateways and MQTT_CA_FILE: {broker.ca_path}")
        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        try:
            while not stopping.wait(1.0):
                if not broker.is_running():
                    raise CommandError(f"mosquitto exited: {broker.log_tail()}")
        finally:
            broker.stop()

    def _write_files(self, directory: Path, hostnames: list[str], *, real: bool) -> None:
        address = broker_address()
        if address.embedded or not address.username or not address.password:
            raise CommandError(
                "set MQTT_URL with the console's username and password (mqtt://console:PASSWORD@127.0.0.1:PORT): "
                "the broker's first client is the console's own"
            )
        written = broker_files.prepare(
            directory,
            hostnames,
            (address.username, address.password),
            settings.MQTT_TOPIC_PREFIX,
            (settings.MQTT_PROVISIONING_USERNAME, settings.MQTT_PROVISIONING_PASSWORD),
            development_certificates=not real,
        )
        for line in written:
            self.stdout.write(line)
