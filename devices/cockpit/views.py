"""The device cockpit's own admin views: telemetry history, the command panel and the config editor.

They answer JSON to the page's script (static/acuvim/device_page.js) and do the same checks as the
admin actions and the API: the domain services (send_command, push_config) validate, the views only
translate their errors into `{"errors": {field: message}}` with status 400.
"""

import json
from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from acuvim_console.core.admin_json import json_body, json_response, require_permission
from acuvim_console.protocol.commands import OPERATOR_COMMANDS, CommandValidationError
from acuvim_console.protocol.config import DEFAULT_CONFIG, InvalidConfig, redact_secrets
from acuvim_console.protocol.quantities import CHART_SETS, chart_sets
from alerts.services import DEFAULT_SILENCE, SILENCE_DURATIONS, alert_event_data, alert_rows
from devices.cockpit.forms import COMMAND_EXAMPLES, CommandForm
from devices.cockpit.live import command_payload, device_state, latest_telemetry
from devices.control.commands import send_command
from devices.control.config_push import push_config
from devices.models import Device
from firmware.models import RolloutDevice
from telemetry.points import points_response
from telemetry.queries import history_json, quantity_history_json

# Range -> (span, bucket): about 300-360 points per chart whatever the range.
HISTORY_RANGES = {
    "1h": (timedelta(hours=1), 10),
    "24h": (timedelta(hours=24), 300),
    "7d": (timedelta(days=7), 1800),
    "30d": (timedelta(days=30), 7200),
}
DEFAULT_RANGE = "1h"
RECENT_ROWS = 10


@require_GET
def telemetry_history(request, pk):
    """Bucketed history for the charts; the bucket grows with the range so every range costs the same.

    Without `set`: averages of the five chart quantities. With `set` (acuvim_console.protocol.quantities.CHART_SETS):
    avg, min and max of that set's quantities, for a chart with min/max bands.
    """
    require_permission(request, "telemetry.view_telemetryrecord")
    device = get_object_or_404(Device, pk=pk)
    range_name = request.GET.get("range", DEFAULT_RANGE)
    if range_name not in HISTORY_RANGES:
        return json_response({"errors": {"range": f"must be one of {', '.join(HISTORY_RANGES)}"}}, 400)
    chart_set = request.GET.get("set")
    if chart_set is not None and chart_set not in CHART_SETS:
        return json_response({"errors": {"set": f"must be one of {', '.join(CHART_SETS)}"}}, 400)
    span, bucket_seconds = HISTORY_RANGES[range_name]
    end = timezone.now()
    body = {"device_id": device.device_id, "range": range_name, "bucket_seconds": bucket_seconds}
    if chart_set is None:
        return points_response({**body, "points": history_json(device, end - span, end, bucket_seconds)})
    fields = CHART_SETS[chart_set][1]
    points = quantity_history_json(device, end - span, end, bucket_seconds, fields, ["avg", "min", "max"])
    return points_response({**body, "set": chart_set, "fields": list(fields), "points": points})


@require_POST
def send_device_command(request, pk):
    """The command panel: `{"command": "ping", "params": {}}` -> the queued command, or the errors."""
    require_permission(request, "devices.send_command")
    device = get_object_or_404(Device, pk=pk)
    try:
        body = json_body(request)
        command = send_command(device, body.get("command"), body.get("params"), user=request.user)
    except ValueError as exc:  # CommandValidationError is a ValueError with per-field errors
        return json_response({"errors": getattr(exc, "errors", None) or {"body": str(exc)}}, 400)
    return json_response({"command": command_payload(command)}, 201)


@require_POST
def push_device_config(request, pk):
    """The config editor: the edited document is compared with the desired one; only changes are pushed."""
    require_permission(request, "devices.push_config")
    device = get_object_or_404(Device, pk=pk)
    try:
        edited = json_body(request).get("config")
        if not isinstance(edited, dict):
            raise ValueError("config must be a JSON object")
    except ValueError as exc:
        return json_response({"errors": {"config": str(exc)}}, 400)
    changes = changed_settings(desired_config(device), edited)
    if not changes:
        return json_response({"errors": {"config": "nothing changed"}}, 400)
    try:
        version, command = push_config(device, changes, user=request.user)
    except (CommandValidationError, InvalidConfig) as exc:
        return json_response({"errors": exc.errors}, 400)
    device.refresh_from_db(fields=["desired_config_hash", "applied_config_hash"])
    return json_response(
        {
            "version": version.version,
            "changes": redact_secrets(changes),
            "desired_config_hash": device.desired_config_hash,
            "applied_config_hash": device.applied_config_hash,
            "command": command_payload(command),
        }
    )


def desired_config(device: Device) -> dict:
    """The redacted desired config: the latest stored version, or the defaults a first push builds on."""
    latest = device.configs.order_by("-version").first()
    return latest.redacted() if latest else redact_secrets(DEFAULT_CONFIG)


def changed_settings(current: dict, edited: dict) -> dict:
    """The part of `edited` that differs from `current`, section by section (a partial config)."""
    changes = {}
    for key, value in edited.items():
        before = current.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            section = {inner: item for inner, item in value.items() if before.get(inner) != item}
            if section:
                changes[key] = section
        elif value != before:
            changes[key] = value
    return changes


def silence_durations() -> list[tuple[str, str, bool]]:
    """The choices of the device page's silence, the same as the alert list's."""
    return [(key, label, key == DEFAULT_SILENCE) for key, (label, _) in SILENCE_DURATIONS.items()]


def cockpit_context(request, device: Device) -> dict:
    """Everything the device page renders on first paint; the websocket keeps it current afterwards."""
    user = request.user
    return {
        "device_state": device_state(device),
        "latest_telemetry": latest_telemetry(device),
        "recent_commands": [
            command_payload(command)
            for command in device.commands.select_related("device").order_by("-created_at")[:RECENT_ROWS]
        ],
        "recent_alerts": [
            alert_event_data(alert)
            for alert in alert_rows().filter(device=device).order_by("-created_at")[:RECENT_ROWS]
        ],
        "can_handle_alerts": user.has_perm("alerts.acknowledge_alert"),
        "can_silence": user.has_perm("alerts.add_silence"),
        "silence_durations": silence_durations(),
        "status_history": device.status_changes.order_by("-changed_at")[:RECENT_ROWS],
        "ota_history": RolloutDevice.objects.filter(device=device)
        .select_related("rollout__firmware")
        .order_by("-updated_at")[:RECENT_ROWS],
        "desired_config_json": json.dumps(desired_config(device), indent=2, sort_keys=True),
        "command_form": CommandForm(),
        "command_examples": COMMAND_EXAMPLES,
        "command_names": list(OPERATOR_COMMANDS),
        "history_ranges": list(HISTORY_RANGES),
        "chart_sets": chart_sets(),
        "can_send_command": user.has_perm("devices.send_command"),
        "can_push_config": user.has_perm("devices.push_config"),
    }
