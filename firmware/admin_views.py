"""The firmware admin's own pages: deploy with a dry-run confirmation, and the rollout control buttons."""

import math
from collections import Counter

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from firmware.admin_forms import DeployForm
from firmware.api.permissions import DEPLOY_FIRMWARE
from firmware.models import FirmwareVersion, Rollout
from firmware.planning import plan
from firmware.rollouts import (
    RolloutError,
    cancel_rollout,
    create_rollout,
    pause_rollout,
    resume_rollout,
    retry_failed,
)

ROLLOUT_ACTIONS = {
    "pause": (pause_rollout, "Rollout paused."),
    "resume": (resume_rollout, "Rollout resumed."),
    "cancel": (cancel_rollout, "Rollout cancelled; devices already updating are still followed."),
    "retry": (retry_failed, "Failed devices queued again."),
}


def deploy_view(model_admin, request, pk):
    """Deploy a version: the form, then a page listing who will be updated and who is skipped, then go."""
    if not request.user.has_perm(DEPLOY_FIRMWARE):
        raise PermissionDenied
    firmware = get_object_or_404(FirmwareVersion, pk=pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "firmware": firmware,
        "title": f"Deploy firmware {firmware.version}",
    }
    if request.method != "POST":
        # The device and group changelists' "Deploy firmware" actions arrive with the target preset.
        form = DeployForm(
            initial={
                "devices": request.GET.get("devices", "").replace(",", " "),
                "group": request.GET.get("group"),
                "hardware": request.GET.get("hardware", ""),
            }
        )
        return TemplateResponse(request, "admin/firmware/deploy.html", {**context, "form": form})
    form = DeployForm(request.POST)
    if not form.is_valid():
        return TemplateResponse(request, "admin/firmware/deploy.html", {**context, "form": form})
    options = form.rollout_options()
    if "confirm" not in request.POST:
        eligible, skipped = plan(firmware, form.devices, options["allow_downgrade"])
        return TemplateResponse(
            request,
            "admin/firmware/deploy_confirm.html",
            {
                **context,
                "form": form,
                "eligible": eligible,
                "skipped": skipped,
                "waves": _wave_sizes(len(eligible), options["wave_size"], options["wave_percent"]),
                "title": f"Confirm deployment of {firmware.version}",
            },
        )
    try:
        rollout = create_rollout(firmware, form.devices, user=request.user, target=form.target, **options)
    except RolloutError as error:
        messages.error(request, str(error))
        return TemplateResponse(request, "admin/firmware/deploy.html", {**context, "form": form})
    messages.success(request, f"Rollout of {firmware.version} to {rollout.devices.count()} devices created.")
    return redirect(reverse("admin:firmware_rollout_change", args=[rollout.pk]))


def _wave_sizes(eligible: int, wave_size: int | None, wave_percent: int | None) -> list[int]:
    if not eligible:
        return []
    size = wave_size or (math.ceil(eligible * wave_percent / 100) if wave_percent else eligible)
    return [min(size, eligible - start) for start in range(0, eligible, size)]


def rollout_action_view(model_admin, request, pk, action):
    """Pause, resume, cancel or retry (POST from the rollout page's buttons)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.has_perm(DEPLOY_FIRMWARE):
        raise PermissionDenied
    rollout = get_object_or_404(Rollout, pk=pk)
    run, done = ROLLOUT_ACTIONS[action]
    try:
        run(rollout, user=request.user)
    except RolloutError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect(reverse("admin:firmware_rollout_change", args=[rollout.pk]))


def rollout_page_context(rollout: Rollout) -> dict:
    """Waves with their devices and counts, for the rollout page (live updates replace values in place)."""
    entries = list(rollout.devices.select_related("device", "command").order_by("wave", "device__device_id"))
    waves = []
    for number in range(1, rollout.wave_count + 1):
        rows = [entry for entry in entries if entry.wave == number]
        waves.append({"number": number, "rows": rows, "counts": Counter(entry.state for entry in rows)})
    return {"waves": waves, "device_total": len(entries)}
