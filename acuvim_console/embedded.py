"""Background services that `runconsole` runs in-process when no external ones are configured.

Each entry of settings.EMBEDDED_SERVICES is the dotted path of a callable `start() -> stop` (or None
when the service decides it is not needed, e.g. the broker when MQTT_URL points at Mosquitto). They start
in order, so the broker comes up before the bridge that connects to it, and stop in reverse order.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


def start_embedded_services() -> list[Callable[[], None]]:
    stops = []
    for dotted_path in settings.EMBEDDED_SERVICES:
        stop = import_string(dotted_path)()
        if stop is not None:
            log.info("started %s", dotted_path)
            stops.append(stop)
    return stops


def stop_embedded_services(stops: list[Callable[[], None]]) -> None:
    for stop in reversed(stops):
        try:
            stop()
        except Exception:
            log.exception("error while stopping an embedded service")
