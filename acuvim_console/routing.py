"""Websocket URL routes; each accepts the admin session, a ticket or a bearer subprotocol (acuvim_console.ws_auth).

The last route takes every other path and closes it with 4404 (devices.consumers.UnknownPathConsumer).
"""

from django.urls import path, re_path

from acuvim_console.url_converters import KEY
from acuvim_console.ws_auth import CredentialAuthMiddleware
from devices.consumers import DeviceConsumer, FleetConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/fleet/", CredentialAuthMiddleware(FleetConsumer.as_asgi())),
    path(f"ws/devices/<{KEY}:device_id>/", CredentialAuthMiddleware(DeviceConsumer.as_asgi())),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
