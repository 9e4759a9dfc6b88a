"""A device's MQTT credentials: issued on provisioning, approval and rotation, disabled on decommissioning.

The broker (acuvim_console.core.broker_accounts) holds the account; the console keeps only the SHA-256 of
the password it issued last, audits each issue, and hands the password back once for the engineer to
copy. With MQTT_BROKER_ADMIN=none nothing is issued and the callers show no MQTT credentials.
"""

from django.utils import timezone

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import device_target, record
from acuvim_console.core.broker_accounts import MqttCredentials, broker_admin
from devices.models import Device
from devices.registry.tokens import hash_token


def issue_mqtt_credentials(device: Device, *, user=None) -> MqttCredentials | None:
    """Give the device a new MQTT password on the broker (the old one stops working at once) and return it.

    Called inside the caller's transaction after its own changes: if the broker refuses, BrokerAdminError
    rolls those back too, so the console never records credentials the broker does not have.
    """
    credentials = broker_admin().issue_device_credentials(device.device_id)
    if credentials is None:
        return None
    device.mqtt_password_hash = hash_token(credentials.password)
    device.save(update_fields=["mqtt_password_hash", "updated_at"])
    record(
        AuditAction.MQTT_CREDENTIALS_ISSUED,
        device_target(device),
        user=user,
        detail={"username": credentials.username, "at": timezone.now().isoformat()},
    )
    return credentials


def disable_mqtt_client(device: Device) -> None:
    """Refuse the device's MQTT logins and disconnect it; its stored hash stays as the record of what was issued."""
    broker_admin().disable_device(device.device_id)
