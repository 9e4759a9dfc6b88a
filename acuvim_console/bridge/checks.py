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
