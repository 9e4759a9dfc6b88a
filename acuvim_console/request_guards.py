"""Requests refused at the door with 400, before a view builds a query that the database would fail on.

Two kinds of input reached the database and came back as a 500, in views no single fix could reach:

- A NUL character in the path or query string. PostgreSQL text cannot hold NUL, so any lookup or filter
  built from it fails with DataError: the admin's changelists take arbitrary lookups from the query string
  (`?device_id=%00`, `?q=%00`). No legitimate client sends NUL in a URL.
- An admin action's selected rows (`_selected_action`) that are not ids of the model: Django's admin filters
  `pk__in` with them as given, and a value that is not a UUID or a number raises ValidationError or
  ValueError from the lookup. Every model admin, Django's and third-party ones included, goes through here.
"""

import logging

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest, JsonResponse

log = logging.getLogger(__name__)

NUL = "\x00"
NUL_MESSAGE = "The URL holds a NUL character (%00), which no parameter may contain."


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path or any(NUL in key or NUL in "".join(values) for key, values in request.GET.lists()):
            log.info("refused a request with NUL in its URL: %r", request.get_full_path()[:200])
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NUL_MESSAGE}, status=400)
            return _bad_request(NUL_MESSAGE)
        return self.get_response(request)


class AdminSelectionMiddleware:
    """Refuses an admin action whose selected rows are not ids of the model the changelist shows."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)  # set by ModelAdmin.get_urls on its views
        if model_admin is None or request.method != "POST" or ACTION_CHECKBOX_NAME not in request.POST:
            return None
        primary_key = model_admin.model._meta.pk
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
            try:
                primary_key.to_python(value)
            except ValidationError:
                log.info("refused an admin action on %s with selected row %r", model_admin.opts.label, value[:80])
                return _bad_request(f"The selected rows must be ids of {model_admin.opts.verbose_name_plural}.")
        return None


def _bad_request(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
