"""Loopback HTTP control port of a running simulator (`--control-port`).

    GET  /devices                      -> [{"device_id":..,"transport":..,"sd_queued":..,...}, ...]
    GET  /stats                        -> fleet totals
    POST /fault {"fault":"wifi_down","devices":["ACV-..."],"args":{}}   (no "devices": whole fleet)
"""

import http.server
import json
import threading

from firmware_src.simulator.fleet import FAULTS
from firmware_src.simulator.loopback_http import QuietHandler


class ControlServer:
    def __init__(self, fleet, port):
        self.fleet = fleet
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sim-control", daemon=True)
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self):
        fleet = self.fleet

        class Handler(QuietHandler):
            def _json(self, status, payload):
                self.reply(status, "application/json", json.dumps(payload).encode())

            def do_GET(self):
                if self.path == "/devices":
                    self._json(200, [device.snapshot() for device in fleet.devices])
                elif self.path == "/stats":
                    self._json(200, fleet.stats())
                else:
                    self._json(404, {"error": "GET /devices or /stats"})

            def do_POST(self):
                if self.path != "/fault":
                    self._json(404, {"error": "POST /fault"})
                    return
                try:
                    request = json.loads(self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 65536)))
                    count = fleet.inject(request["fault"], request.get("devices"), **(request.get("args") or {}))
                except (ValueError, KeyError, TypeError) as error:
                    self._json(400, {"error": str(error), "faults": list(FAULTS)})
                    return
                self._json(200, {"applied": count})

        return Handler
