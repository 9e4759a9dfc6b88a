"""The console refuses to start in production with settings that would give it away.

"Production" is settings.PRODUCTION: the PRODUCTION variable, or, when it is unset, whether the console
talks to an external broker or Redis (MQTT_URL or REDIS_URL set), which is how every deployment runs;
`make run` (embedded broker, no Redis) is development. There a default or short SECRET_KEY, DEBUG on
or an empty ALLOWED_HOSTS is an error: every management command (migrate, mqtt_bridge, runconsole)
stops on it through Django's system checks, and the ASGI application and Celery refuse to load.
"""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_KEY_LENGTH = 50  # Django's own deploy check uses the same bounds
MIN_SECRET_KEY_CHARACTERS = 5
# Values people copy from examples and tutorials.
PLACEHOLDER_SECRET_KEYS = frozenset({"change-me", "changeme", "secret", "secret-key", "your-secret-key", "insecure"})
INSECURE_PREFIX = "django-insecure"


def _secret_key_problem(key: str) -> str | None:
    if not key or key.lower() in PLACEHOLDER_SECRET_KEYS or key.startswith(INSECURE_PREFIX):
        return "SECRET_KEY is a default or placeholder value"
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < MIN_SECRET_KEY_CHARACTERS:
        return (
            f"SECRET_KEY is too short or too simple (needs {MIN_SECRET_KEY_LENGTH}+ characters, "
            f"{MIN_SECRET_KEY_CHARACTERS}+ different ones)"
        )
    return None


def production_problems() -> list[str]:
    """What is unsafe about the current settings for production; empty outside production."""
    if not settings.PRODUCTION:
        return []
    problems = []
    if key_problem := _secret_key_problem(settings.SECRET_KEY):
        problems.append(key_problem)
    if settings.DEBUG:
        problems.append("DEBUG is on")
    if not settings.ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS is empty")
    return problems


HINT = (
    "Set SECRET_KEY to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
    "DEBUG=false and ALLOWED_HOSTS to the console's host names; PRODUCTION=false only for development."
)


@register("security")
def check_production_settings(app_configs=None, **kwargs):
    return [Error(f"production: {problem}", hint=HINT, id="acuvim.E101") for problem in production_problems()]


def refuse_insecure_production() -> None:
    """For entry points that run no system checks (the ASGI application, Celery workers)."""
    if problems := production_problems():
        raise ImproperlyConfigured(f"refusing to start in production: {'; '.join(problems)}. {HINT}")
