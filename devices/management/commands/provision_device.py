from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from acuvim_console.core.broker_accounts import BrokerAdminError
from devices.registry.provisioning import provision_device


class Command(BaseCommand):
    help = (
        "Pre-provision a gateway so it is accepted on its first registration, and print its device token and, "
        "when the console manages the broker, its MQTT credentials (shown once) with the values to type into "
        "its captive portal. Re-running rotates both."
    )

    def add_arguments(self, parser):
        parser.add_argument("device_id", help="ACV- followed by the 12 hex digits of the ESP32 MAC")
        parser.add_argument("--name", default="", help="friendly name, e.g. 'Substation 4 main feeder'")
        parser.add_argument("--group", default="", help="device group (created if missing)")

    def handle(self, device_id, name, group, **options):
        try:
            result = provision_device(device_id.strip().upper(), name=name, group_name=group)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except BrokerAdminError as exc:
            raise CommandError(f"nothing provisioned: {exc}") from None
        verb = "Provisioned" if result.created else "Re-provisioned (token rotated)"
        self.stdout.write(self.style.SUCCESS(f"{verb} {result.device.device_id}"))
        self.stdout.write("Captive portal values:")
        for label, value in result.portal_values().items():
            self.stdout.write(f"  {label:<13} {value}")
        if result.mqtt is not None:
            self.stdout.write(f"MQTT username: {result.mqtt.username}")
            self.stdout.write(f"MQTT password: {result.mqtt.password}")
        warning = (
            "The device token and MQTT password are stored hashed: copy them now, they are not shown again."
            if result.mqtt
            else "The device token is stored hashed: copy it now, it is not shown again."
        )
        self.stdout.write(self.style.WARNING(warning))
