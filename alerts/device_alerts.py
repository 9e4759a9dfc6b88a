"""Alerts a gateway raises or clears itself (`acuvim/{id}/alerts`).

The bridge hands over the payload parsed by acuvim_console.protocol.payloads.parse_alert. "raised" opens
(or repeats) the alert of that type with the device's message, value and threshold; "cleared" resolves
the open one, because the device has seen the condition end. The device's message is redacted
(devices.control.redaction) before it is stored: alerts are shown to every Viewer.
"""

from datetime import datetime

from acuvim_console.protocol.enums import AlertState
from alerts.models import Alert, AlertSource
from alerts.services import raise_alert, resolve_alert
from devices.control.redaction import DeviceRedactor
from devices.models import Device


def handle_device_alert(device: Device, payload: dict, received_at: datetime) -> Alert | bool:
    alert_type = payload["type"]
    if payload["state"] == AlertState.CLEARED:
        return resolve_alert(device, alert_type, reason="cleared by device")
    device_time = payload.get("ts")
    return raise_alert(
        device,
        alert_type,
        payload["sev"],
        DeviceRedactor(device)(payload.get("msg")) or f"{alert_type} reported by the device",
        value=payload.get("val"),
        threshold=payload.get("thr"),
        metadata={"device_ts": (device_time or received_at).isoformat(), "ts_estimated": device_time is None},
        source=AlertSource.DEVICE,
    )
