"""In production the console refuses a default or short SECRET_KEY, DEBUG on, or an empty ALLOWED_HOSTS."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from acuvim_console.operators.checks import refuse_insecure_production

PROJECT_DIR = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 30 + "0123456789abcdefghijklmnopqrst"


@pytest.fixture
def production(settings):
    settings.PRODUCTION = True
    settings.SECRET_KEY, settings.DEBUG, settings.ALLOWED_HOSTS = GOOD_KEY, False, ["console.example.com"]
    return settings


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("SECRET_KEY", "change-me", "SECRET_KEY is a default"),
        ("SECRET_KEY", "django-insecure-" + "x" * 60, "SECRET_KEY is a default"),
        ("SECRET_KEY", "short-but-random-8f2k", "SECRET_KEY is too short"),
        ("SECRET_KEY", "ab" * 40, "SECRET_KEY is too short or too simple"),
        ("DEBUG", True, "DEBUG is on"),
        ("ALLOWED_HOSTS", [], "ALLOWED_HOSTS is empty"),
    ],
)
def test_each_insecure_setting_stops_the_checks_and_the_entry_points(production, setting, value, message):
    setattr(production, setting, value)
    with pytest.raises(SystemCheckError, match=message):
        call_command("check")
    with pytest.raises(ImproperlyConfigured, match=message):
        refuse_insecure_production()


def test_good_production_settings_and_development_pass(production):
    call_command("check")
    refuse_insecure_production()
    production.PRODUCTION, production.DEBUG, production.SECRET_KEY = False, True, "dev"
    call_command("check")


def weak_production_env(tmp_path) -> dict:
    """A deployment's environment (an external broker and Redis make it production) with a placeholder key."""
    env = {key: value for key, value in os.environ.items() if key not in ("PRODUCTION", "DJANGO_SETTINGS_MODULE")}
    env.update(
        MQTT_URL="mqtt://127.0.0.1:1",
        REDIS_URL="redis://127.0.0.1:1/0",
        SECRET_KEY="change-me",
        DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    return env


@pytest.mark.parametrize(
    "command",
    [
        ["manage.py", "migrate", "--noinput"],
        ["-c", "import acuvim_console.asgi"],
        ["-m", "celery", "-A", "acuvim_console", "worker", "--pool=solo", "--without-mingle", "--without-gossip"],
    ],
    ids=["migrate", "asgi", "celery-worker"],
)
def test_a_deployment_with_a_placeholder_key_does_not_start(tmp_path, command):
    result = subprocess.run(
        [sys.executable, *command],
        cwd=PROJECT_DIR,
        env=weak_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is a default" in result.stderr + result.stdout
