"""`manage.py broker`: first start writes a CA and the console's account, later starts keep them; the
production config carries the same security; MQTT_BROKER_ADMIN=none leaves the broker alone."""

import base64
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from acuvim_console.core import broker_accounts, broker_files
from devices.models import Device
from tests.broker.conftest import connect
from tests.factories import next_device_id
from tests.support.ports import free_port, wait_for_port

PROJECT_DIR = Path(__file__).resolve().parents[2]


def password_matches(client: dict, password: str) -> bool:
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(client["salt"]), client["iterations"])
    return base64.b64encode(digest).decode() == client["password"]


def test_init_writes_a_ca_and_the_console_account_once_and_keeps_them(settings, tmp_path):
    settings.MQTT_URL = "mqtt://console:first-secret@127.0.0.1:1883"
    settings.MQTT_PROVISIONING_PASSWORD = ""
    init = ("broker", "--dir", str(tmp_path), "--init-only")
    call_command(*init, "--hostname", "broker.example.com", stdout=io.StringIO())
    document = json.loads((tmp_path / broker_files.DYNSEC_FILE).read_text())
    (console,) = document["clients"]  # no provisioning client without its password
    assert console["username"] == "console" and password_matches(console, "first-secret")
    assert document["defaultACLAccess"] == {
        "publishClientSend": False, "publishClientReceive": False, "subscribe": False, "unsubscribe": True
    }
    assert oct((tmp_path / broker_files.SERVER_KEY).stat().st_mode & 0o777) == "0o600"
    ca = (tmp_path / broker_files.CA_CERT).read_bytes()

    settings.MQTT_URL = "mqtt://console:second-secret@127.0.0.1:1883"
    call_command(*init, stdout=io.StringIO())
    assert (tmp_path / broker_files.CA_CERT).read_bytes() == ca
    assert password_matches(json.loads((tmp_path / broker_files.DYNSEC_FILE).read_text())["clients"][0], "first-secret")


def test_the_broker_needs_the_console_credentials_in_mqtt_url(settings, tmp_path):
    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    with pytest.raises(CommandError, match="username and password"):
        call_command("broker", "--dir", str(tmp_path), "--init-only")
    settings.MQTT_URL = ""
    with pytest.raises(CommandError, match="username and password"):
        call_command("broker", "--dir", str(tmp_path), "--init-only")
    settings.MQTT_URL = "mqtt://console:secret@127.0.0.1:1883"
    (tmp_path / "a-file").write_text("")
    with pytest.raises(CommandError, match="cannot write the broker's files"):
        call_command("broker", "--dir", str(tmp_path / "a-file"), "--init-only")


def test_manage_py_broker_runs_in_the_foreground_with_tls_and_stops_on_sigterm(tmp_path):
    port, tls_port = free_port(), free_port()
    env = {
        **os.environ,
        "MQTT_URL": f"mqtt://console:run-secret@127.0.0.1:{port}",
        "MQTT_PROVISIONING_PASSWORD": "prov-secret",
        "PRODUCTION": "false",
        "DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "manage.py", "broker", "--dir", str(tmp_path / "broker"), "--port", str(port),
               "--tls-port", str(tls_port), "--tls-host", "127.0.0.1"]
    process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(tls_port, timeout=20)
        broker = broker_files.SecuredMosquitto(workdir=tmp_path / "broker", port=port, tls_port=tls_port)
        for username, password in (("console", "run-secret"), ("provisioning", "prov-secret")):
            probe, reason = connect(broker, username, password)
            probe.close()
            assert not reason.is_failure, (username, reason)
        probe, reason = connect(broker, None, None)
        probe.close()
        assert reason == "no CONNACK" or reason.is_failure
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert re.search(r"CA for gateways and MQTT_CA_FILE: .*ca\.crt", output)


def test_production_config_has_the_local_brokers_security(tmp_path):
    """deploy/mosquitto/mosquitto.conf (docker compose) and SecuredMosquitto say the same about who gets in."""
    shipped = (PROJECT_DIR / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    local = broker_files.SecuredMosquitto(workdir=tmp_path, port=1, tls_port=2).listener_text()
    for directive in ("allow_anonymous false", "plugin_opt_config_file", "certfile", "keyfile", "tls_version tlsv1.2"):
        assert re.search(rf"^{directive}", shipped, re.M), directive
        assert re.search(rf"^{directive}", local, re.M), directive
    assert re.search(r"^listener 8883$", shipped, re.M)
    assert re.search(r"^plugin .*mosquitto_dynamic_security\.so$", shipped, re.M)
    assert not re.search(r"^allow_anonymous true", shipped, re.M)


@pytest.mark.django_db
def test_without_broker_management_provisioning_prints_no_mqtt_credentials(settings, caplog):
    settings.MQTT_BROKER_ADMIN = "none"
    settings.MQTT_URL = "mqtt://console:console-only-secret@mosquitto:1883"
    settings.MQTT_PUBLIC_URL = "mqtts://mqtt.example.com:8883"
    out = io.StringIO()
    with caplog.at_level("INFO", logger="acuvim_console.core.broker_accounts"):
        call_command("provision_device", next_device_id(), stdout=out)
    printed = out.getvalue()
    assert "MQTT password" not in printed and "Device token" in printed
    # The portal gets the gateways' address, never the console's own listener or credentials.
    assert re.search(r"MQTT host +mqtt\.example\.com\n +MQTT port +8883\n +MQTT TLS +yes", printed), printed
    assert "console-only-secret" not in printed and "mosquitto" not in printed
    assert "MQTT_BROKER_ADMIN=none" in caplog.text
    settings.MQTT_BROKER_ADMIN = "mosquitto_passwd"
    with pytest.raises(ImproperlyConfigured, match="MQTT_BROKER_ADMIN"):
        broker_accounts.broker_admin()
    settings.MQTT_BROKER_ADMIN, settings.MQTT_URL = "dynsec", ""
    with pytest.raises(ImproperlyConfigured, match="needs MQTT_URL"):
        broker_accounts.broker_admin()


@pytest.mark.django_db
def test_an_unreachable_broker_provisions_nothing(settings):
    settings.MQTT_BROKER_ADMIN = "dynsec"
    settings.MQTT_URL = f"mqtt://console:x@127.0.0.1:{free_port()}"
    device_id = next_device_id()
    with pytest.raises(CommandError, match=r"nothing provisioned.*unreachable"):
        call_command("provision_device", device_id, stdout=io.StringIO())
    assert not Device.objects.filter(device_id=device_id).exists()
