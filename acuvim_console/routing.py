"""Websocket URL routes; each accepts the admin session, a ticket or a bearer subprotocol (operators.ws_auth).

The last route takes every other path and closes it with 4404 (devices.cockpit.consumers.UnknownPathConsumer).
"""

from django.urls import path, re_path

from acuvim_console.core.url_converters import KEY
from acuvim_console.operators.ws_auth import CredentialAuthMiddleware
from devices.cockpit.consumers import DeviceConsumer, FleetConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/fleet/", CredentialAuthMiddleware(FleetConsumer.as_asgi())),
    path(f"ws/devices/<{KEY}:device_id>/", CredentialAuthMiddleware(DeviceConsumer.as_asgi())),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
