"""System checks for the bridge's settings (run by `manage.py check` and before every management command)."""

from django.conf import settings
from django.core.checks import Warning, register

# The window must hold the batch being committed, the batch being collected and one more on the way.
BATCHES_IN_FLIGHT = 3


@register("acuvim")
def check_inflight_window(app_configs=None, **kwargs):
    """A batch larger than a third of the in-flight window makes the bridge wait on its own acknowledgements.

    Acknowledgements go out after the commit, so the broker stops sending once MQTT_RECEIVE_MAXIMUM
    messages are unacknowledged. Measured on bench/ingest: batches of 1,000 in a window of 1,000
    drained at the pace of the batch timer, in a window of 3,000 at full speed.
    """
    batch, window = settings.MQTT_BATCH_SIZE, settings.MQTT_RECEIVE_MAXIMUM
    if batch * BATCHES_IN_FLIGHT <= window:
        return []
    return [
        Warning(
            f"MQTT_BATCH_SIZE {batch} is more than a third of MQTT_RECEIVE_MAXIMUM {window}",
            hint=f"Raise MQTT_RECEIVE_MAXIMUM to at least {batch * BATCHES_IN_FLIGHT} (and the broker's "
            "max_inflight_messages for MQTT 3.1.1), or lower MQTT_BATCH_SIZE.",
            id="acuvim.W001",
        )
    ]


@register("acuvim")
def check_queue_holds_the_window(app_configs=None, **kwargs):
    """A queue smaller than the in-flight window can fill, and then the MQTT thread waits for room.

    While it waits it reads nothing from the broker, not even the answer to its keepalive ping, so a wait
    longer than MQTT_KEEPALIVE_S drops the connection. With the queue at least the window, the broker stops
    sending before a queue is full: a slow or absent database then holds the broker back, not the thread.
    """
    size, window = settings.MQTT_QUEUE_SIZE, settings.MQTT_RECEIVE_MAXIMUM
    if size >= window:
        return []
    return [
        Warning(
            f"MQTT_QUEUE_SIZE {size} is smaller than MQTT_RECEIVE_MAXIMUM {window}",
            hint=f"Raise MQTT_QUEUE_SIZE to at least {window}, or lower MQTT_RECEIVE_MAXIMUM.",
            id="acuvim.W002",
        )
    ]
