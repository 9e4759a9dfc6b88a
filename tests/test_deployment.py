"""The production stack description stays valid and complete."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
EXPECTED_SERVICES = {"db", "redis", "mosquitto", "migrate", "web", "bridge", "worker", "beat"}


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (scripts/ensure-services installs it)")


def _config(extra_env: dict) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("POSTGRES_PASSWORD", "SECRET_KEY")}
    env.update(extra_env)
    return subprocess.run(
        [*_compose_command(), "-f", "docker-compose.yml", "config"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid_and_runs_every_process():
    result = _config({"POSTGRES_PASSWORD": "x", "SECRET_KEY": "y"})
    assert result.returncode == 0, result.stderr
    for service in EXPECTED_SERVICES:
        assert f"  {service}:" in result.stdout, f"service {service} missing"
    assert "timescale/timescaledb" in result.stdout
    assert "mqtt_bridge" in result.stdout


def test_compose_refuses_to_start_without_a_database_password():
    result = _config({"SECRET_KEY": "y"})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_env_example_documents_every_setting_read_from_the_environment():
    settings_source = (PROJECT_DIR / "acuvim_console" / "settings.py").read_text()
    documented = (PROJECT_DIR / ".env.example").read_text()
    names = set(re.findall(r'env_(?:bool|int|float|list)\("([A-Z_]+)"', settings_source))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_0-9]+)"', settings_source))
    names -= {"TEST_DB_SUFFIX"}  # test-only
    missing = sorted(name for name in names if f"{name}=" not in documented)
    assert not missing, f".env.example lacks {json.dumps(missing)}"
