"""Content-Security-Policy header for every response (Django 5.2 has none built in).

Everything the console serves comes from its own origin: the admin, the websocket pages, and Swagger UI,
which drf-spectacular-sidecar vendors and SpectacularSwaggerSplitView loads without inline scripts.
So scripts are 'self' only; styles also allow inline attributes because the admin uses them; images
allow data: URIs (Swagger UI icons). Websocket pages connect to the same host over ws:/wss:.
"""

from django.conf import settings

DEFAULT_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class ContentSecurityPolicyMiddleware:
    """Adds CONTENT_SECURITY_POLICY (default above) unless a view set its own."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
