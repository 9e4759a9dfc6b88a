"""Fixtures of the firmware tests: a private Mosquitto, an observer client, a firmware download server."""

import http.server
import json
import os
import socket
import threading
import time

import paho.mqtt.client as paho
import pytest


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mosquitto(mqtt_broker):
    """The project's private broker (configured like production), as a URL."""
    return mqtt_broker.url


class Observer:
    """Records every message on the broker, with helpers to wait for one."""

    def __init__(self, broker_url, topics=("#",)):
        host, port = broker_url.split("//")[1].split(":")
        self.messages = []
        self._lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"observer-{time.monotonic_ns()}")
        self.client.on_message = self._on_message
        connected = threading.Event()
        self.client.on_connect = lambda *args: (self.client.subscribe([(t, 1) for t in topics]), connected.set())
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert connected.wait(5)
        time.sleep(0.2)

    def _on_message(self, client, userdata, message):
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = message.payload
        with self._lock:
            self.messages.append((message.topic, payload, message.retain))

    def matching(self, topic, predicate=lambda payload: True):
        with self._lock:
            return [p for t, p, _r in self.messages if t == topic and predicate(p)]

    def wait_for(self, topic, predicate=lambda payload: True, timeout=15.0, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(topic, predicate)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no message on {topic} matching within {timeout} s; seen {len(self.messages)} messages")

    def publish(self, topic, payload):
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def observer(mosquitto):
    watcher = Observer(mosquitto)
    yield watcher
    watcher.close()


class FirmwareServer:
    """Serves firmware images like the console's download endpoint: Range, Content-Length, token check.

    With `stall_after` set, a transfer from the start sends that many bytes and then nothing until the
    server closes: a link that died without a reset."""

    def __init__(self, token):
        self.images = {}
        self.requests = []
        self.stall_after = None
        self.closing = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                data = server.images.get(self.path)
                if data is None or self.headers.get("Authorization") != f"Device {token}":
                    self.send_response(404 if data is None else 401)
                    self.end_headers()
                    return
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if server.stall_after is not None and start == 0:
                    self.wfile.write(data[:server.stall_after])
                    self.wfile.flush()
                    server.closing.wait(60)
                    return
                self.wfile.write(data[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def firmware_server():
    server = FirmwareServer("tok-fw")
    yield server
    server.close()


@pytest.fixture
def state_dir(tmp_path):
    path = tmp_path / "fleet"
    os.makedirs(path)
    return str(path)
