"""Admin views beside the alert list: the device page's inbox and the rule editor's dry run.

Inbox: acknowledge, resolve and silence one alert from the device page.

The device cockpit (templates/admin/devices/device/change_form.html, static/acuvim/alert_inbox.js) posts
`{"action": "acknowledge" | "resolve" | "silence", "duration": "4h", "reason": "..."}` here and gets the
alert back in its live shape; the change itself goes out as AlertUpdated to every page that shows the
alert, so the page that clicked and the others update the same way. The same services as the list's
actions and the API do the work and record who and when.
"""

from datetime import timedelta

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from acuvim_console.core.admin_json import json_body, json_response, require_permission
from alerts.dry_run import dry_run
from alerts.models import Alert, Silence
from alerts.services import (
    DEFAULT_SILENCE,
    SILENCE_DURATIONS,
    acknowledge_alerts,
    alert_event_data,
    alert_rows,
    resolve_alerts,
    silence_devices,
)

# Silence.reason holds 200 characters; the inbox appends who and when (about 70).
REASON_MAX = 120
PERMISSIONS = {
    "acknowledge": "alerts.acknowledge_alert",
    "resolve": "alerts.acknowledge_alert",
    "silence": "alerts.add_silence",
}


class SilenceFields(forms.Form):
    """How long and why: shared by the device page's silence and the alert list's action bar."""

    silence_for = forms.ChoiceField(
        label="Silence for",
        required=False,
        initial=DEFAULT_SILENCE,
        choices=[(key, label) for key, (label, _) in SILENCE_DURATIONS.items()],
    )
    silence_reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=REASON_MAX,
        widget=forms.TextInput(attrs={"placeholder": "reason for the silence", "size": 28}),
    )

    def silence(self) -> tuple[timedelta, str]:
        """The duration and the reason, or a ValueError saying what is missing."""
        if not self.is_valid():
            field, messages = next(iter(self.errors.items()))
            raise ValueError(f"{field}: {' '.join(messages)}")
        reason = " ".join(self.cleaned_data["silence_reason"].split())
        if not reason:
            raise ValueError("silence_reason: say why the devices are silenced")
        return SILENCE_DURATIONS[self.cleaned_data["silence_for"] or DEFAULT_SILENCE][1], reason


class AlertActionForm(ActionForm, SilenceFields):
    """The alert list's action bar, with the silence's duration and reason beside the action menu."""


@require_POST
def inbox_action(request, pk):
    """One alert from the device page; 400 with `{"errors": {...}}` for anything the body gets wrong."""
    try:
        body = json_body(request)
    except ValueError as exc:
        return json_response({"errors": {"body": str(exc)}}, 400)
    action = body.get("action")
    if action not in PERMISSIONS:
        return json_response({"errors": {"action": f"must be one of {', '.join(PERMISSIONS)}"}}, 400)
    require_permission(request, PERMISSIONS[action])
    alert = get_object_or_404(Alert, pk=pk)
    selected = Alert.objects.filter(pk=alert.pk)
    answer = {}
    if action == "acknowledge":
        acknowledge_alerts(selected, request.user)
    elif action == "resolve":
        resolve_alerts(selected, request.user)
    else:
        duration, reason = body.get("duration"), body.get("reason")
        if not isinstance(duration, str | None) or not isinstance(reason, str | None):
            return json_response({"errors": {"silence": "duration and reason are strings"}}, 400)
        try:
            duration, reason = SilenceFields({"silence_for": duration, "silence_reason": reason}).silence()
        except ValueError as exc:
            return json_response({"errors": {"silence": str(exc)}}, 400)
        (silence,) = silence_devices(selected, duration=duration, reason=reason, user=request.user)
        answer["silence"] = silence_payload(silence)
    return json_response({**answer, "alert": alert_event_data(alert_rows().get(pk=alert.pk))})


def silence_payload(silence: Silence) -> dict:
    return {
        "id": silence.pk,
        "reason": silence.reason,
        "ends_at": silence.ends_at.isoformat(),
        "created_by": silence.created_by.username if silence.created_by_id else None,
    }


def rule_dry_run(model_admin, request):
    """The rule editor's Dry run: the form as it stands, validated like a save, replayed, never saved.

    The page posts the whole add/change form (static/acuvim/rule_dry_run.js); a script may post the same
    fields as JSON. The answer is the dry run (alerts.dry_run) or the form's errors, field by field, as
    the Save button would show them.
    """
    if request.method != "POST":
        return json_response({"errors": {"method": "POST the rule form"}}, 405)
    if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
        raise PermissionDenied("needs alerts.add_alertrule or alerts.change_alertrule")
    data = request.POST
    if request.content_type == "application/json":  # the same fields as a JSON object, within json_limits
        try:
            data = json_body(request)
        except ValueError as exc:
            return json_response({"errors": {"body": str(exc)}}, 400)
    form = model_admin.get_form(request)(data)
    if not form.is_valid():
        return json_response({"errors": {field: " ".join(messages) for field, messages in form.errors.items()}}, 400)
    rule = form.save(commit=False)
    if rule.watches_health:
        return json_response({"errors": {"field": "health rules have no stored history to replay"}}, 400)
    return json_response(dry_run(rule).as_dict())
