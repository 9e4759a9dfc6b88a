"""`make run` as a new user meets it: one process on SQLite serving the admin, and a login that works."""

import re
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.embedded import embedded_env
from tests.support.mosquitto import free_port, wait_for_port

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def console(tmp_path):
    port = free_port()
    env = embedded_env(tmp_path, ADMIN_PASSWORD="first-login-pw-9", MQTT_EMBEDDED_PORT=str(free_port()))
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runconsole", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_runconsole_serves_the_admin_on_sqlite_and_the_first_admin_can_log_in(console):
    base_url, data_dir = console
    assert (data_dir / "acuvim.sqlite3").exists()
    assert (data_dir / "secret_key").exists()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    login_page = opener.open(f"{base_url}/admin/login/?next=/admin/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    form = urlencode(
        {"csrfmiddlewaretoken": csrf, "username": "admin", "password": "first-login-pw-9", "next": "/admin/"}
    ).encode()
    request = urllib.request.Request(f"{base_url}/admin/login/?next=/admin/", data=form, headers={"Referer": base_url})
    started = time.monotonic()
    page = opener.open(request, timeout=10).read().decode()
    assert time.monotonic() - started < 10
    assert "Log out" in page or "logout" in page
    assert "Devices" in page
