import os

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from acuvim_console.bridge.embedded import describe_broker
from acuvim_console.embedded import start_embedded_services, stop_embedded_services
from acuvim_console.operators.accounts import ensure_first_admin


class Command(BaseCommand):
    help = (
        "Run the whole console in one process: migrate, create the first admin, start the embedded services "
        "(MQTT broker and bridge, scheduler) and serve the admin, API and websockets."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.RUNCONSOLE_HOST)
        parser.add_argument("--port", type=int, default=settings.RUNCONSOLE_PORT)
        parser.add_argument("--no-migrate", action="store_true", help="skip applying migrations")

    def handle(self, host, port, no_migrate, **options):
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        username = os.environ.get("ADMIN_USERNAME", "admin")
        generated = ensure_first_admin(username, os.environ.get("ADMIN_PASSWORD"))
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin user '{username}' with password: {generated}\n"
                    "  (shown once; set ADMIN_PASSWORD to choose it, or use `manage.py changepassword`)"
                )
            )
        stops = start_embedded_services()
        self.stdout.write(self.style.SUCCESS(f"Acuvim Console: http://{host}:{port}/admin/"))
        self.stdout.write(describe_broker())
        try:
            # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any local client;
            # the console reads it itself, from TRUSTED_PROXIES only (acuvim_console.operators.client_address).
            uvicorn.run(
                "acuvim_console.asgi:application",
                host=host,
                port=port,
                log_level="info",
                lifespan="off",
                proxy_headers=False,
            )
        finally:
            stop_embedded_services(stops)
