"""Websocket URL routes. Each route accepts the admin session or a JWT (see acuvim_console/ws_auth.py).

The last route takes every other path and closes it with 4404 (devices.consumers.UnknownPathConsumer).
"""

from django.urls import path, re_path

from acuvim_console.url_converters import KEY
from acuvim_console.ws_auth import JwtAuthMiddleware
from devices.consumers import DeviceConsumer, FleetConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/fleet/", JwtAuthMiddleware(FleetConsumer.as_asgi())),
    path(f"ws/devices/<{KEY}:device_id>/", JwtAuthMiddleware(DeviceConsumer.as_asgi())),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
