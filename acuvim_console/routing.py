"""Websocket URL routes. Each route accepts the admin session or a JWT (see acuvim_console/ws_auth.py)."""

from django.urls import path

from acuvim_console.ws_auth import JwtAuthMiddleware
from devices.consumers import DeviceConsumer, FleetConsumer

websocket_urlpatterns = [
    path("ws/fleet/", JwtAuthMiddleware(FleetConsumer.as_asgi())),
    path("ws/devices/<str:device_id>/", JwtAuthMiddleware(DeviceConsumer.as_asgi())),
]
