"""Refuses requests whose path or query string holds a NUL character, with 400, before any view runs.

PostgreSQL text cannot hold NUL, so any lookup or filter built from such a value fails in the database
(DataError) and the request became a 500: the admin's changelists take arbitrary lookups from the query
string (`?device_id=%00`, `?q=%00`), and no view can be trusted to check every parameter it reads. No
legitimate client sends NUL in a URL, so this is refused once, at the door, for every view.
"""

import logging

from django.http import HttpResponseBadRequest, JsonResponse

log = logging.getLogger(__name__)

NUL = "\x00"
MESSAGE = "The URL holds a NUL character (%00), which no parameter may contain."


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path or any(NUL in key or NUL in "".join(values) for key, values in request.GET.lists()):
            log.info("refused a request with NUL in its URL: %r", request.get_full_path()[:200])
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE}, status=400)
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
