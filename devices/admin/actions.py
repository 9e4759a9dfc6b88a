"""Admin actions that need a second page (which command? which group?) before they act on a selection.

The page re-posts the selected ids with the action's name and `apply`, so Django routes the answer
back into the same action, which then validates the form and acts, or shows the page again with errors.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers

from acuvim_console.protocol.commands import CommandValidationError
from devices.admin.forms import AddToGroupForm, FirmwareChoiceForm
from devices.choices import UNACCEPTED_STATUSES
from devices.cockpit.forms import COMMAND_EXAMPLES, CommandForm
from devices.control.commands import batch_summary, send_command, send_group_command

APPLY_FIELD = "apply"
MAX_SELECTION = 1000
# The firmware app's deploy view (firmware/admin_views.py): dry run, then the rollout. It takes the
# target preselected as `?devices=<comma-separated device ids>` or `?group=<group id>`.
FIRMWARE_DEPLOY_URL = "admin:firmware_firmwareversion_deploy"


def firmware_deploy_url(firmware, **query) -> str | None:
    """The deploy page of `firmware` with its target preset, or None where firmware deployment is absent."""
    try:
        return f"{reverse(FIRMWARE_DEPLOY_URL, args=[firmware.pk])}?{urlencode(query)}"
    except NoReverseMatch:
        return None


def deploy_to_selection(modeladmin, request, queryset, *, action: str, target_query):
    """Pick the firmware version, then continue on the firmware app's deploy page with the target preset."""
    form = FirmwareChoiceForm(request.POST if is_applied(request) else None)
    if form.is_bound and form.is_valid():
        url = firmware_deploy_url(form.cleaned_data["firmware"], **target_query(queryset))
        if url is not None:
            return HttpResponseRedirect(url)
        modeladmin.message_user(request, "Firmware deployment is not available on this console.", messages.ERROR)
        return None
    return intermediate_page(
        modeladmin,
        request,
        queryset,
        action=action,
        title="Deploy firmware",
        form=form,
        intro="Choose the firmware version to deploy to the selection.",
    )


def is_applied(request) -> bool:
    return APPLY_FIELD in request.POST


def intermediate_page(modeladmin, request, queryset, *, action: str, title: str, form, intro: str, **extra):
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "queryset": queryset,
        "selected": queryset[:50],
        "selected_count": queryset.count(),
        "action": action,
        "form": form,
        "intro": intro,
        "apply_field": APPLY_FIELD,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "command_examples": COMMAND_EXAMPLES,
        "media": modeladmin.media + form.media,
        **extra,
    }
    return TemplateResponse(request, "admin/acuvim/action_form.html", context)


def show_refused_params(form, error: CommandValidationError) -> None:
    """Put each parameter the command refused on the form, so the page comes back with the reason by the field."""
    for field, message in error.errors.items():
        form.add_error("params", f"{field}: {message}")


def too_many(modeladmin, request, queryset) -> bool:
    if queryset.count() <= MAX_SELECTION:
        return False
    modeladmin.message_user(
        request,
        f"Select at most {MAX_SELECTION} devices for one action; use a group command for larger sets.",
        messages.ERROR,
    )
    return True


def send_command_to_selection(modeladmin, request, queryset):
    """Devices action: one command (validated once) to each accepted device of the selection."""
    if too_many(modeladmin, request, queryset):
        return None
    form = CommandForm(request.POST if is_applied(request) else None)
    if form.is_bound and form.is_valid():
        command, params = form.cleaned_data["command"], form.cleaned_data["params"]
        targets = list(queryset.exclude(status__in=UNACCEPTED_STATUSES))
        try:
            sent = [send_command(device, command, params, user=request.user) for device in targets]
        except CommandValidationError as exc:
            show_refused_params(form, exc)
        else:
            skipped = queryset.count() - len(targets)
            note = f"; {skipped} pending or decommissioned device(s) skipped" if skipped else ""
            modeladmin.message_user(
                request,
                f"{command} queued for {len(sent)} device(s){note}. Offline devices get it when they reconnect.",
                messages.SUCCESS,
            )
            return None
    return intermediate_page(
        modeladmin,
        request,
        queryset,
        action="send_command",
        title="Send a command",
        form=form,
        intro="The command goes to every selected device that is approved; offline ones get it when they return.",
    )


def add_selection_to_group(modeladmin, request, queryset):
    form = AddToGroupForm(request.POST if is_applied(request) else None)
    if form.is_bound and form.is_valid():
        group = form.cleaned_data["group"]
        moved = queryset.update(group=group)
        modeladmin.message_user(request, f"{moved} device(s) moved to group {group}.", messages.SUCCESS)
        return None
    return intermediate_page(
        modeladmin,
        request,
        queryset,
        action="add_to_group",
        title="Add devices to a group",
        form=form,
        intro="A device belongs to one group; the selected devices leave their current group.",
    )


def send_command_to_groups(modeladmin, request, queryset):
    """Groups action: a command batch per selected group, then a page with each batch's summary."""
    form = CommandForm(request.POST if is_applied(request) else None)
    if form.is_bound and form.is_valid():
        command, params = form.cleaned_data["command"], form.cleaned_data["params"]
        try:
            batches = [send_group_command(group, command, params, user=request.user) for group in queryset]
        except CommandValidationError as exc:
            show_refused_params(form, exc)
        else:
            context = {
                **modeladmin.admin_site.each_context(request),
                "title": f"{command} sent to {len(batches)} group(s)",
                "opts": modeladmin.model._meta,
                "batches": [(batch, batch_summary(batch)) for batch in batches],
            }
            return TemplateResponse(request, "admin/acuvim/batch_summary.html", context)
    return intermediate_page(
        modeladmin,
        request,
        queryset,
        action="send_group_command",
        title="Send a command to groups",
        form=form,
        intro="Every approved device of the selected groups gets the command; offline ones when they return.",
    )


def shown_once_page(modeladmin, request, template: str, title: str, **extra) -> TemplateResponse:
    """New secrets (device tokens, MQTT passwords), on a page that is not cached, rather than in the
    `messages` cookie.

    Django's message storage keeps messages in a signed but readable cookie, so a secret put there
    travels in every request until shown, and lands in any proxy or browser that stores cookies.
    """
    context = {**modeladmin.admin_site.each_context(request), "title": title, "opts": modeladmin.model._meta, **extra}
    response = TemplateResponse(request, template, context)
    add_never_cache_headers(response)
    return response


def issued_tokens_page(modeladmin, request, issued: list) -> TemplateResponse:
    return shown_once_page(modeladmin, request, "admin/acuvim/issued_tokens.html", "New device tokens", issued=issued)


def issued_mqtt_credentials_page(modeladmin, request, issued: list, *, note: str = "") -> TemplateResponse:
    """`issued`: (device, MqttCredentials) pairs; `note` says what else the action did (e.g. approvals)."""
    template = "admin/acuvim/issued_mqtt_credentials.html"
    return shown_once_page(modeladmin, request, template, "New MQTT credentials", issued=issued, note=note)
