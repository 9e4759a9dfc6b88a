"""The base of the simulator's loopback HTTP handlers (the control port and the devices' captive portals).

Both answer with one whole body of a known type and length, and neither writes an access log line per request:
with a fleet polled by tests those lines would bury the simulator's own output.
"""

import http.server


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
