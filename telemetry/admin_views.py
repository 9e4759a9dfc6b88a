"""Telemetry pages of the admin: the readings list, and a group's energy (linked from the groups admin).

The readings list is a read-only page of raw readings, filtered by device and time range.

Django's admin refuses to register a model with a composite primary key, so readings, keyed by
`(device, ts)`, cannot have a ModelAdmin changelist. This view gives field engineers the same thing:
the newest readings first, filters by device and time range, a page at a time, columns named by the
protocol's fields, and a link to the device's CSV download of the same range. It is listed under
Telemetry in the admin's app list (telemetry.admin).

Pages go by offset and show no total: counting millions of readings on every page would cost more
than the page itself; one row more than a page tells whether an older page exists.

A group's energy is the energy endpoint's answer summed over the group's devices, per hour, day or
month, as a table with totals and a link to the same as CSV; its query is checked by the endpoint's own
serializer, so the page and the API accept and refuse the same things.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from acuvim_console.protocol.quantities import BY_FIELD, CHART_SETS, ENERGY_KEYS, QUANTITIES
from devices.models import Device
from telemetry import queries
from telemetry.api.serializers import EnergyQuerySerializer
from telemetry.models import TelemetryRecord
from telemetry.timebuckets import utc_z

PERMISSION = "telemetry.view_telemetryrecord"
GROUP_PERMISSION = "groups.view_devicegroup"
PAGE_SIZE = 50
MAX_PAGE = 10_000  # deeper offsets would read the whole range; narrow the range instead
DEFAULT_SPAN = timedelta(hours=1)
ENVELOPE = ("ts", "device", "received_at", "src", "conn", "seq")
# Quantity columns shown by default: what an engineer looks at first on a three-phase meter.
SUMMARY = ("f", "v1", "v2", "v3", "vavg", "i1", "i2", "i3", "iavg", "pt", "pft", "ep_imp", "ep_exp")
COLUMN_SETS = {
    "summary": ("Summary", SUMMARY),
    **{key: (label, fields) for key, (label, fields) in CHART_SETS.items()},
    "all": ("All quantities", tuple(quantity.field for quantity in QUANTITIES)),
}


class ReadingsFilter(forms.Form):
    """The page's query string; anything it does not accept is shown back to the engineer, never a 500."""

    device = forms.CharField(required=False, max_length=32, help_text="device_id, e.g. ACV-24DCC3A1B2C4")
    start = forms.DateTimeField(required=False, help_text="UTC")
    end = forms.DateTimeField(required=False, help_text="UTC")
    columns = forms.ChoiceField(required=False, choices=[(key, label) for key, (label, _) in COLUMN_SETS.items()])
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    def clean_device(self):
        device_id = self.cleaned_data["device"].strip()
        if not device_id:
            return None
        device = Device.objects.filter(device_id=device_id).first()
        if device is None:
            raise forms.ValidationError(f"No device {device_id}.")
        return device

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start >= end:
            raise forms.ValidationError("The start must be before the end.")
        return cleaned


@require_GET
def readings_view(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied(f"needs {PERMISSION}")
    form = ReadingsFilter(request.GET or None)
    context = {
        **admin.site.each_context(request),
        "title": "Readings",
        "form": form,
        "page_size": PAGE_SIZE,
        "envelope": ENVELOPE,
    }
    if request.GET and not form.is_valid():
        return TemplateResponse(request, "admin/telemetry/readings.html", context, status=400)
    values = form.cleaned_data if request.GET else {}
    # A time without an offset is UTC, the console's TIME_ZONE, as the page says.
    end = values.get("end") or timezone.now()
    start = values.get("start") or end - DEFAULT_SPAN
    device, page = values.get("device"), values.get("page") or 1
    fields = COLUMN_SETS[values.get("columns") or "summary"][1]
    readings = TelemetryRecord.objects.filter(ts__gte=start, ts__lt=end).select_related("device")
    if device is not None:
        readings = readings.filter(device=device)
    offset = (page - 1) * PAGE_SIZE
    rows = list(readings.order_by("-ts", "device__device_id")[offset : offset + PAGE_SIZE + 1])
    query = {"start": utc_z(start), "end": utc_z(end), "columns": values.get("columns") or "summary"}
    if device is not None:
        query["device"] = device.device_id

    def page_url(number: int) -> str:
        return "?" + urlencode({**query, "page": number})

    context.update(
        start=start,
        end=end,
        device=device,
        quantities=[BY_FIELD[field] for field in fields],
        column_count=len(ENVELOPE) + len(fields),
        rows=[_row(reading, fields) for reading in rows[:PAGE_SIZE]],
        page=page,
        newer_url=page_url(page - 1) if page > 1 else None,
        older_url=page_url(page + 1) if len(rows) > PAGE_SIZE and page < MAX_PAGE else None,
        csv_url=_csv_url(device, start, end),
    )
    return TemplateResponse(request, "admin/telemetry/readings.html", context)


def _row(reading: TelemetryRecord, fields) -> dict:
    return {
        "ts": reading.ts,
        "device": reading.device,
        "device_url": reverse("admin:devices_device_change", args=[reading.device_id]),
        "received_at": reading.received_at,
        "src": reading.source,
        "conn": reading.connection,
        "seq": reading.seq,
        "estimated": reading.ts_estimated,
        "values": [getattr(reading, BY_FIELD[field].column) for field in fields],
    }


def _csv_url(device, start: datetime, end: datetime) -> str | None:
    """The device's raw-reading CSV of the same range (the REST export; the admin session authenticates it)."""
    if device is None:
        return None
    base = reverse("telemetry-export", kwargs={"device_id": device.device_id})
    return base + "?" + urlencode({"start": utc_z(start), "end": utc_z(end)})


def _total(values) -> float | None:
    """None when no period has a value (a meter that does not report the counter), not a misleading 0."""
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def _shown(value: float | None) -> float | None:
    """To the watt-hour: sums of float increases otherwise end in ...0000001."""
    return None if value is None else round(value, 3)



@require_GET
def group_energy_view(request, group, group_admin):
    """Energy per period summed over `group`'s devices (telemetry.queries.energy), with totals and CSV."""
    for permission in (PERMISSION, GROUP_PERMISSION):
        if not request.user.has_perm(permission):
            raise PermissionDenied(f"needs {permission}")
    query = EnergyQuerySerializer(data=request.GET)
    context = {
        **admin.site.each_context(request),
        "title": f"Energy of {group.name}",
        "group": group,
        "opts": group_admin.model._meta,
        "periods": queries.EnergyPeriod.values,
        "keys": list(ENERGY_KEYS.values()),
        "given": {key: request.GET.get(key, "") for key in ("start", "end", "period")},
    }
    if not query.is_valid():
        errors = [f"{field}: {' '.join(map(str, messages))}" for field, messages in query.errors.items()]
        return TemplateResponse(request, "admin/telemetry/group_energy.html", {**context, "errors": errors}, status=400)
    start, end, period = (query.validated_data[key] for key in ("start", "end", "period"))
    devices = list(group.devices.values_list("pk", flat=True))
    points = queries.energy(devices, start, end, period)
    totals = [_total(point[key] for point in points) for key in context["keys"]]
    range_query = urlencode({"start": utc_z(start), "end": utc_z(end), "period": period})
    context.update(
        start=start,
        end=end,
        period=period,
        device_count=len(devices),
        rows=[{"t": point["t"], "values": [_shown(point[key]) for key in context["keys"]]} for point in points],
        totals=[_shown(total) for total in totals],
        csv_url=reverse("group-energy-export", kwargs={"pk": group.pk}) + "?" + range_query,
    )
    return TemplateResponse(request, "admin/telemetry/group_energy.html", context)
