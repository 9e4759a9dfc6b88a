"""Content-Security-Policy header for every response (Django 5.2 has none built in).

The policy, and why it is what it is, are in settings.py (CONTENT_SECURITY_POLICY).
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY (empty: none) unless a view set its own."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
