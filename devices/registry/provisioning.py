"""Pre-provisioning: a field engineer registers a gateway before it first boots, so it is accepted at once."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import device_target, record
from acuvim_console.core.broker_accounts import MqttCredentials
from devices.models import Device
from devices.registry.mqtt_credentials import issue_mqtt_credentials
from devices.registry.status import accept_device
from devices.registry.tokens import issue_token
from groups.models import DeviceGroup


@dataclass(frozen=True)
class ProvisionedDevice:
    device: Device
    token: str
    created: bool
    mqtt: MqttCredentials | None = None  # None when the console does not manage the broker (MQTT_BROKER_ADMIN=none)

    def portal_values(self) -> dict[str, str]:
        """What the engineer types into the gateway's captive portal."""
        # Where gateways reach the broker, which may not be where the console does (compose: the internal
        # plain listener); never the console's credentials, only host, port and scheme are read.
        url = settings.MQTT_PUBLIC_URL or settings.MQTT_URL or f"mqtt://127.0.0.1:{settings.MQTT_EMBEDDED_PORT}"
        broker = urlsplit(url)
        return {
            "Device ID": self.device.device_id,
            "MQTT host": broker.hostname or "",
            "MQTT port": str(broker.port or (8883 if broker.scheme == "mqtts" else 1883)),
            "MQTT TLS": "yes" if broker.scheme == "mqtts" else "no",
            "Console URL": settings.CONSOLE_BASE_URL,
            "Device token": self.token,
        }


@transaction.atomic
def provision_device(device_id: str, name: str = "", group_name: str = "") -> ProvisionedDevice:
    """Create (or re-provision) a device, accept it and issue a fresh token and MQTT password."""
    group = DeviceGroup.objects.get_or_create(name=group_name)[0] if group_name else None
    device, created = Device.objects.get_or_create(device_id=device_id)
    device.full_clean(validate_unique=False, exclude=["token_hash"])
    device.preprovisioned = True
    if name:
        device.name = name
    if group:
        device.group = group
    device.save()
    accept_device(device, reason="provisioned")
    record(AuditAction.DEVICE_PROVISIONED, device_target(device), detail={"created": created, "group": group_name})
    token = issue_token(device)
    return ProvisionedDevice(device=device, token=token, created=created, mqtt=issue_mqtt_credentials(device))
