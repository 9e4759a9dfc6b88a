"""The small JSON endpoints behind the admin's live pages: one body decoder, one permission check, one response.

The device page's buttons (commands, config, the alert inbox) post JSON and read JSON back; decoding within
json_limits' bounds and refusing a missing permission the same way everywhere keeps their answers alike.
"""

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse

from acuvim_console.core import json_limits


def json_response(data: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, encoder=DjangoJSONEncoder)


def json_body(request) -> dict:
    """The body as a JSON object, decoded within json_limits' bounds (JsonRefused is a ValueError)."""
    body = json_limits.loads(request.body or b"{}")
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def require_permission(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"needs {permission}")
