"""Websocket URL routes; each accepts the admin session, a ticket or a bearer subprotocol (acuvim_console.ws_auth)."""

from django.urls import path

from acuvim_console.ws_auth import CredentialAuthMiddleware
from devices.consumers import DeviceConsumer, FleetConsumer

websocket_urlpatterns = [
    path("ws/fleet/", CredentialAuthMiddleware(FleetConsumer.as_asgi())),
    path("ws/devices/<str:device_id>/", CredentialAuthMiddleware(DeviceConsumer.as_asgi())),
]
