"""Login throttling: a password guesser gets LOGIN_THROTTLE_RATE attempts per client address.

This counts every attempt, good or bad, a minute at a time; django-axes (settings.AXES_*) adds the
lockout after repeated failures per address and per username. Both take the client address from
acuvim_console.operators.client_address, which believes X-Forwarded-For only from TRUSTED_PROXIES.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from acuvim_console.operators.client_address import client_address


class LoginRateThrottle(SimpleRateThrottle):
    """Counts every login attempt (good or bad) per client IP, in the default cache."""

    scope = "login"

    def get_rate(self):
        # Read at request time, not import time, so the rate follows the settings (and test overrides).
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_ident(self, request):
        return client_address(request) or "unknown"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
