"""Heartbeats (`acuvim/{id}/heartbeat`): a device's health snapshot, its proof of life and its anomalies.

The bridge calls handle_heartbeat for accepted devices with the payload already parsed by
acuvim_console.protocol.payloads.parse_heartbeat. The handler stores the snapshot on the Device row,
brings a degraded or offline device back online (delivering the commands queued meanwhile), notices
when the device applied the desired config, and raises or clears console alerts for anomalies.
"""

import logging

from django.conf import settings
from django.db import transaction

from acuvim_console.core.events import HEARTBEAT_RECEIVED, publish_event
from alerts.models import Alert, AlertSource, AlertType
from alerts.services import raise_alert, resolve_alert
from devices.choices import DeviceStatus
from devices.control.commands import deliver_pending
from devices.control.config_state import record_applied_config
from devices.health import anomalies
from devices.models import Device
from devices.registry.freshness import device_time, is_stale
from devices.registry.status import change_status

log = logging.getLogger(__name__)

# The console alerts that heartbeats decide (a heartbeat also proves the device is no longer offline);
# the device's own alerts are left to it.
HEARTBEAT_ALERT_TYPES = (
    AlertType.DEVICE_OFFLINE,
    AlertType.CRASH_LOOP,
    AlertType.UNEXPECTED_RESET,
    AlertType.LOW_HEAP,
    AlertType.HEAP_FALLING,
    AlertType.MODBUS_ERRORS,
    AlertType.SD_BACKLOG,
    AlertType.OTA_ROLLED_BACK,
)


def snapshot_fields(beat: dict) -> dict:
    """The Device fields a parsed heartbeat reports (absent values are left out, not blanked)."""
    sd, modbus, gsm, ota = (beat.get(key) or {} for key in ("sd", "modbus", "gsm", "ota"))
    fields = {
        "firmware_version": beat.get("fw"),
        "uptime_s": beat.get("uptime"),
        "boot_count": beat.get("boot"),
        "reset_reason": beat.get("reset"),
        "heap_free": beat.get("heap"),
        "heap_min": beat.get("heap_min"),
        "connection_type": beat.get("conn"),
        "signal_strength": beat.get("rssi"),
        "ip_address": beat.get("ip"),
        "heartbeat_interval": beat.get("hb_s"),
        "sd_ok": sd.get("ok"),
        "sd_queued": sd.get("queued"),
        "sd_free_kb": sd.get("free_kb"),
        "modbus_ok": modbus.get("ok"),
        "modbus_errors": modbus.get("errors"),
        "gsm_ok": gsm.get("ok"),
        "mqtt_reconnects": beat.get("mqtt_reconnects"),
        "ota_state": ota.get("state"),
        "ota_previous_version": ota.get("prev"),
    }
    return {name: value for name, value in fields.items() if value is not None}


def handle_heartbeat(device: Device, beat: dict, received_at) -> Device:
    """Store one heartbeat and act on it; returns the updated device.

    A heartbeat older (by device time) than the stored snapshot is ignored; one older than the device's
    last presence message (say, an offline status sent after it) updates the snapshot but does not bring
    the device back online (devices.registry.freshness).
    """
    fields = snapshot_fields(beat)
    sent_at = device_time(beat, received_at)
    with transaction.atomic():
        # Locked so two bridges handling two heartbeats of one device compare against each other.
        before = Device.objects.select_for_update().get(pk=device.pk)
        if is_stale(sent_at, before.heartbeat_device_ts):
            log.info("%s: heartbeat of %s older than the stored one ignored", device.device_id, sent_at.isoformat())
            return before
        alive = not is_stale(sent_at, before.presence_device_ts)
        applied_hash_before = before.applied_config_hash
        assessment = anomalies.assess(_previous(before), fields, received_at, settings.HEALTH_ANOMALIES)
        fields.update(assessment.state)
        fields["sd_queue_growth"] = _sd_queue_growth(before.sd_queued, fields.get("sd_queued"))
        fields.update(last_heartbeat=received_at, last_seen=received_at, updated_at=received_at)
        if sent_at is not None:
            fields["heartbeat_device_ts"] = sent_at
            if alive:
                fields["presence_device_ts"] = sent_at
        Device.objects.filter(pk=device.pk).update(**fields)
        for name, value in fields.items():
            setattr(before, name, value)
        device = before
        came_back = (
            alive
            and device.status != DeviceStatus.ONLINE
            and change_status(device, DeviceStatus.ONLINE, reason="heartbeat", at=received_at)
        )
        if came_back:
            transaction.on_commit(lambda: deliver_pending(device))
        if beat.get("cfg") and beat["cfg"] != applied_hash_before:
            record_applied_config(device, beat["cfg"], received_at)
        findings = assessment.findings
        if alive:
            findings = [anomalies.Finding(AlertType.DEVICE_OFFLINE, active=False), *findings]
        _apply_findings(device, findings)
        publish_event(HEARTBEAT_RECEIVED, _event_data(device, received_at), device_id=device.device_id)
    return device


def _sd_queue_growth(previous: int | None, queued: int | None) -> int | None:
    """What the SD queue gained since the last heartbeat that reported it, for the `sd_queue_growth` rules.

    None (never matches a rule) when this heartbeat does not report the queue or none before it did:
    a stale growth left standing would keep a "queue growing" alert open on a trend nobody sees any more.
    """
    if previous is None or queued is None:
        return None
    return queued - previous


def _previous(device: Device) -> anomalies.Previous:
    return anomalies.Previous(
        heap_free=device.heap_free,
        modbus_errors=device.modbus_errors,
        sd_queued=device.sd_queued,
        ota_state=device.ota_state,
        heap_decline_streak=device.heap_decline_streak,
        heap_decline_start=device.heap_decline_start,
        boot_window_started_at=device.boot_window_started_at,
        boot_window_start_count=device.boot_window_start_count,
    )


def _apply_findings(device: Device, findings: list[anomalies.Finding]) -> None:
    """Raise new alerts and clear recovered ones, touching only alerts whose state changes."""
    open_types = set(
        Alert.objects.filter(device=device, resolved_at__isnull=True, alert_type__in=HEARTBEAT_ALERT_TYPES).values_list(
            "alert_type", flat=True
        )
    )
    for finding in findings:
        if finding.active and finding.alert_type not in open_types:
            raise_alert(
                device,
                finding.alert_type,
                finding.severity,
                finding.message,
                value=finding.value,
                threshold=finding.threshold,
                metadata=finding.metadata,
                source=AlertSource.CONSOLE,
            )
            log.info("%s: %s raised: %s", device.device_id, finding.alert_type, finding.message)
        elif not finding.active and finding.alert_type in open_types:
            resolve_alert(device, finding.alert_type, reason="cleared by heartbeat")
            log.info("%s: %s cleared", device.device_id, finding.alert_type)


def _event_data(device: Device, received_at) -> dict:
    return {
        "device_id": device.device_id,
        "at": received_at.isoformat(),
        "status": device.status,
        "firmware_version": device.firmware_version,
        "connection_type": device.connection_type,
        "signal_strength": device.signal_strength,
        "uptime_s": device.uptime_s,
        "heap_free": device.heap_free,
        "sd_queued": device.sd_queued,
        "modbus_ok": device.modbus_ok,
        "config_drift": device.config_drift,
    }
