"""The production stack description stays valid and complete."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
EXPECTED_SERVICES = {"db", "redis", "mosquitto", "broker-init", "migrate", "web", "bridge", "worker", "beat"}
ONE_SHOT_SERVICES = {"broker-init", "migrate"}
PROD_FILES = ("docker-compose.yml", "deploy/docker-compose.prod.yml")
REQUIRED_ENV = {"POSTGRES_PASSWORD": "x", "SECRET_KEY": "y", "MQTT_CONSOLE_PASSWORD": "z"}


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (scripts/ensure-services installs it)")


def _config(extra_env: dict, files: tuple[str, ...] = ("docker-compose.yml",)) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in (*REQUIRED_ENV, "PUBLIC_HOST")}
    env.update(extra_env)
    return subprocess.run(
        [*_compose_command(), *(arg for name in files for arg in ("-f", name)), "config"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid_and_runs_every_process():
    result = _config(REQUIRED_ENV)
    assert result.returncode == 0, result.stderr
    for service in EXPECTED_SERVICES:
        assert f"  {service}:" in result.stdout, f"service {service} missing"
    assert "timescale/timescaledb" in result.stdout
    assert "mqtt_bridge" in result.stdout


def test_compose_refuses_to_start_without_a_database_password():
    result = _config({"SECRET_KEY": "y", "MQTT_CONSOLE_PASSWORD": "z"})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_compose_refuses_to_start_without_the_console_broker_password():
    result = _config({"POSTGRES_PASSWORD": "x", "SECRET_KEY": "y"})
    assert result.returncode != 0
    assert "MQTT_CONSOLE_PASSWORD" in result.stderr


def _services(config_text: str) -> dict:
    return yaml.safe_load(config_text)["services"]


def test_production_compose_puts_nginx_with_tls_in_front_and_checks_every_service():
    """Issue 15 item 5: nginx (HTTPS, WSS), Mosquitto with TLS and dynamic security, TimescaleDB, healthchecks."""
    result = _config({**REQUIRED_ENV, "PUBLIC_HOST": "console.example.com"}, PROD_FILES)
    assert result.returncode == 0, result.stderr
    services = _services(result.stdout)
    assert set(services) == EXPECTED_SERVICES | {"nginx"}
    unchecked = sorted(
        name for name, service in services.items() if name not in ONE_SHOT_SERVICES and "healthcheck" not in service
    )
    assert not unchecked, f"services without a healthcheck: {unchecked}"
    published = {
        name: [str(port["published"]) if isinstance(port, dict) else str(port) for port in service.get("ports", [])]
        for name, service in services.items()
    }
    assert sorted(published["nginx"]) == ["443", "80"]
    assert published["mosquitto"] == ["8883"]  # the plain listener is never published
    assert all("8000" not in port or port.startswith("127.0.0.1") for port in published["web"])
    assert services["db"]["image"].startswith("timescale/timescaledb:")
    assert services["web"]["environment"]["HTTPS"] == "true"
    nginx = (PROJECT_DIR / "deploy" / "nginx" / "console.conf.template").read_text()
    assert "listen 443 ssl" in nginx and "proxy_set_header Upgrade $http_upgrade" in nginx


def test_production_compose_needs_the_public_host_name():
    result = _config(REQUIRED_ENV, PROD_FILES)
    assert result.returncode != 0
    assert "PUBLIC_HOST" in result.stderr


def test_env_example_documents_every_setting_read_from_the_environment():
    settings_source = (PROJECT_DIR / "acuvim_console" / "settings.py").read_text()
    documented = (PROJECT_DIR / ".env.example").read_text()
    names = set(re.findall(r'env_(?:bool|int|float|list)\("([A-Z_]+)"', settings_source))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_0-9]+)"', settings_source))
    names -= {"TEST_DB_SUFFIX"}  # test-only
    missing = sorted(name for name in names if f"{name}=" not in documented)
    assert not missing, f".env.example lacks {json.dumps(missing)}"


def test_the_checklists_name_only_tests_that_exist():
    """docs/deployment.md says which test shows each security item (seed 10.2): a test renamed or removed
    must take its line in the guide with it, or the checklist would vouch for something nothing checks."""
    guide = (PROJECT_DIR / "docs" / "deployment.md").read_text()
    named = re.findall(r"`((?:firmware_src/)?tests/[\w/]+\.py)(?:::(\w+))?`", guide)
    assert any(test for _, test in named), "the checklist names no test"
    missing = []
    for path, test in named:
        module = PROJECT_DIR / path
        if not module.is_file() or (test and not re.search(rf"^def {test}\(", module.read_text(), re.M)):
            missing.append(f"{path}::{test}" if test else path)
    assert not missing, f"docs/deployment.md names tests that do not exist: {missing}"
