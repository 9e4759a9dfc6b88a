"""`make run` as a new user meets it: one process on SQLite serving the admin, and a login that works."""

import contextlib
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

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
        yield f"http://127.0.0.1:{port}", tmp_path, process
    finally:
        stop(process)


def stop(process) -> str:
    """Stop the console and return everything it printed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.stdout.read() if not process.stdout.closed else ""


def admin_login(opener, base_url, password, forwarded_for=None) -> int:
    login_page = opener.open(f"{base_url}/admin/login/?next=/admin/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    form = urlencode({"csrfmiddlewaretoken": csrf, "username": "admin", "password": password, "next": "/admin/"})
    headers = {"Referer": base_url, **({"X-Forwarded-For": forwarded_for} if forwarded_for else {})}
    request = urllib.request.Request(f"{base_url}/admin/login/?next=/admin/", data=form.encode(), headers=headers)
    try:
        return opener.open(request, timeout=10).status
    except urllib.error.HTTPError as error:
        return error.code


def test_runconsole_serves_the_admin_on_sqlite_and_the_first_admin_can_log_in(console):
    base_url, data_dir, _ = console
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


def test_the_served_console_locks_out_password_guessing_whatever_x_forwarded_for_says(console):
    """Issue 15: 40 wrong passwords in 19 s, then the right one worked; uvicorn believed any local X-Forwarded-For."""
    base_url, _, _ = console
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    guesses = [admin_login(opener, base_url, f"guess-{n}", forwarded_for=f"203.0.113.{n}") for n in range(10)]
    assert guesses[-1] == 429 and set(guesses[:-1]) == {200}
    assert admin_login(opener, base_url, "first-login-pw-9", forwarded_for="198.51.100.1") == 429


def test_the_access_log_masks_signed_links_and_tickets(console):
    base_url, _, process = console
    for path in (
        "/api/firmware/download/1.3.0?device_id=ACV-AABBCCDDEEFF&sig=LEAKED-SIGNATURE",
        "/api/firmware/check?ticket=LEAKED-TICKET&x=1",
    ):
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(base_url + path, timeout=10)
    socket_url = base_url.replace("http", "ws") + "/ws/fleet/?ticket=LEAKED-WS-TICKET"
    with connect(socket_url, open_timeout=10) as socket, pytest.raises(ConnectionClosed):
        socket.recv(timeout=10)  # refused: an unknown ticket
    output = stop(process)
    assert "/ws/fleet/?ticket=***" in output
    assert "/api/firmware/download/1.3.0?device_id=ACV-AABBCCDDEEFF&sig=***" in output
    assert "ticket=***&x=1" in output
    assert "LEAKED" not in output
