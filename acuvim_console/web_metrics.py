"""The web process's part of the metrics: request timings by route, the database counts, and `/metrics`.

Requests are timed by the URL *pattern* they resolved to (`/api/devices/{device_id}/command`), never by the
path: every device id, every mistyped or fuzzed URL would otherwise become a new series and grow the
registry without bound. Paths that resolve to nothing share one `unmatched` label, and methods outside
HTTP's usual few share `other`. A streamed response (CSV export, firmware download) is timed to its headers.

The database counts (commands and rollouts by status) are queried here, at scrape time, because the
changes happen in every process (bridge, worker, web) and only the database sees them all.
"""

import re
import time

from django.db.models import Count
from django.http import HttpResponse, HttpResponseNotAllowed

from acuvim_console.core import metrics as m
from acuvim_console.operators.client_address import client_address
from devices.choices import CommandStatus
from devices.models import Command
from firmware.models import Rollout, RolloutStatus

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def route_label(request) -> str:
    """The route pattern the request resolved to, with `{name}` for each path parameter."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return UNMATCHED
    return "/" + _CONVERTER.sub(r"{\1}", match.route)


class RequestTimingMiddleware:
    """First in MIDDLEWARE, so the time includes every other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        status = f"{response.status_code // 100}xx"
        m.HTTP_REQUEST_SECONDS.labels(route_label(request), method, status).observe(time.perf_counter() - started)
        return response


def _counts_by_status(model) -> dict[str, int]:
    return dict(model.objects.order_by().values_list("status").annotate(n=Count("pk")))


m.COMMANDS.bind(lambda: _counts_by_status(Command), CommandStatus.values)
m.ROLLOUTS.bind(lambda: _counts_by_status(Rollout), RolloutStatus.values)


def metrics_view(request):
    """The registry in Prometheus' text format, behind core.metrics.scrape_refusal's rule."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    refusal = m.scrape_refusal(request.headers.get("Authorization"), client_address(request))
    if refusal == 401:
        response = HttpResponse("a valid bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if refusal == 403:
        return HttpResponse(
            "metrics are served to loopback clients only unless METRICS_TOKEN is set\n",
            status=403,
            content_type="text/plain",
        )
    body, content_type = m.exposition(with_database=True)
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
