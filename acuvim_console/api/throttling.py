"""Login throttling: a password guesser gets LOGIN_THROTTLE_RATE attempts per client address."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class LoginRateThrottle(SimpleRateThrottle):
    """Counts every login attempt (good or bad) per client IP, in the default cache."""

    scope = "login"

    def get_rate(self):
        # Read at request time, not import time, so the rate follows the settings (and test overrides).
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
