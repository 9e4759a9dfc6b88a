"""The captive portal of a simulated device in AP mode, served on a loopback port.

On the board the portal answers on 192.168.4.1 in the device's own access point; here each device in
AP mode gets an ephemeral port on 127.0.0.1. The form handling is the firmware's (`device/portal.py`);
the submitted settings are applied on the device's shard thread.
"""

import http.server
import threading

from firmware_src.device import portal
from firmware_src.device.config import ConfigError
from firmware_src.simulator.loopback_http import QuietHandler


class PortalServer:
    def __init__(self, app, shard):
        self.app = app
        self.shard = shard
        handler = self._handler_class()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, name="portal-" + app.device_id, daemon=True).start()

    def close(self):
        threading.Thread(target=self.httpd.shutdown, daemon=True).start()

    def _handler_class(self):
        server = self

        class Handler(QuietHandler):
            def _page(self, status, message=""):
                app = server.app
                body = portal.render_form(app.device_id, app.config.current, app.has_modem(), message).encode()
                self.reply(status, "text/html; charset=utf-8", body)

            def do_GET(self):
                self._page(200)

            def do_POST(self):
                length = min(int(self.headers.get("Content-Length") or 0), 8192)
                body = self.rfile.read(length)
                try:
                    changes = portal.parse_form(body, server.app.has_modem())
                except ConfigError as error:
                    self._page(400, f"Not saved: {error}")
                    return
                server.shard.call_soon(lambda: server.app.provision(changes))
                self._page(200, "Saved. The gateway restarts and connects.")

        return Handler
