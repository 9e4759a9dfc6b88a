"""Websocket URL routes; each app that streams live events contributes its consumers here."""

websocket_urlpatterns: list = []
