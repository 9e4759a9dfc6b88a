"""Captive portal on the ESP32 access point: a non-blocking HTTP form server and a DNS redirect, polled
from the main loop (the AP interface only exists in AP mode, hence the 0.0.0.0 binds)."""
# ruff: noqa: UP031 - MicroPython code: %-formatting is its lightest formatter

import socket

from firmware_src.device import portal
from firmware_src.device.config import ConfigError


class DnsRedirect:
    """Answers every DNS question on the AP with the portal's address, so phones open the form by themselves."""

    def __init__(self, address, host="0.0.0.0", port=53):
        self.address = bytes([int(part) for part in address.split(".")])
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(socket.getaddrinfo(host, port)[0][-1])
        self.sock.setblocking(False)
        self.ignored = 0

    def poll(self):
        for _ in range(4):  # a few queries per main-loop pass, never a flood
            try:
                query, sender = self.sock.recvfrom(512)
            except OSError:
                return
            answer = portal.dns_redirect_answer(query, self.address)
            if answer is None:
                self.ignored += 1
                continue
            try:
                self.sock.sendto(answer, sender)
            except OSError:
                return


class CaptivePortal:
    def __init__(self, app, host="0.0.0.0", port=80, dns=None):
        self.app = app
        self.dns = dns
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(socket.getaddrinfo(host, port)[0][-1])
        self.server.listen(2)
        self.server.setblocking(False)

    def poll(self):
        if self.dns is not None:
            self.dns.poll()
        try:
            client, _addr = self.server.accept()
        except OSError:
            return
        client.settimeout(5)
        try:
            self._serve(client)
        except (OSError, ValueError) as error:
            self.app.log("warning", "portal request failed: %r" % (error,))
        finally:
            client.close()

    def _serve(self, client):
        stream = client.makefile("rwb")
        request = stream.readline().decode().split()
        length = 0
        while True:
            line = stream.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = min(int(line.split(b":")[1]), 4096)
        message = ""
        if request and request[0] == "POST":
            try:
                changes = portal.parse_form(stream.read(length), self.app.has_modem())
                self.app.provision(changes)
                message = "Saved. The gateway restarts and connects."
            except ConfigError as error:
                message = "Not saved: %s" % error
        body = portal.render_form(self.app.device_id, self.app.config.current, self.app.has_modem(), message)
        stream.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n")
        stream.write(body.encode())
        stream.flush()
