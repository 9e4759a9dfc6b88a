"""Recording audit entries from wherever an action happens, with the request's actor and address.

Services (commands, config push, firmware, rollouts, provisioning) call `record()` inside their own
transaction, so an action that rolls back leaves no entry and one that commits always has one. The
request that caused it is remembered per request by AuditRequestMiddleware, so a service deep below
a view, or a signal handler for a user change, knows the address without every caller passing it. A
call without a request (manage.py, periodic jobs) records no address and, without a user, no actor.
"""

from contextvars import ContextVar

from acuvim_console.audit.models import AuditAction, AuditLog
from acuvim_console.operators.client_address import client_address

_current_request: ContextVar = ContextVar("audit_request", default=None)


def record(action: AuditAction, target: str, *, user=None, detail: dict | None = None) -> AuditLog:
    """Append one entry; `user` defaults to the current request's authenticated user."""
    request = _current_request.get()
    if user is None and request is not None:
        user = getattr(request, "user", None)
    actor = str(user) if user is not None and getattr(user, "is_authenticated", False) else ""
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        target=target[:200],
        ip=client_address(request) if request is not None else None,
        detail=detail or {},
    )


def device_target(device) -> str:
    return f"device {device.device_id}"


class AuditRequestMiddleware:
    """Makes the request being served visible to `record()` for the length of the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
