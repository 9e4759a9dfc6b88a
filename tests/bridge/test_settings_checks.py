"""System checks on the bridge's settings, against an in-flight window (MQTT_RECEIVE_MAXIMUM) of 3000."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


@pytest.mark.parametrize(
    ("setting", "fits", "too_big_or_small", "check_id"),
    [
        ("MQTT_BATCH_SIZE", 1000, 1001, "W001"),  # a batch must fit three times in the window
        ("MQTT_QUEUE_SIZE", 3000, 2999, "W002"),  # a queue must hold the window, or the MQTT thread may wait
    ],
)
def test_check_warns_when_a_setting_does_not_fit_the_in_flight_window(
    settings, setting, fits, too_big_or_small, check_id
):
    settings.MQTT_RECEIVE_MAXIMUM = 3000
    setattr(settings, setting, fits)
    call_command("check", fail_level="WARNING")
    setattr(settings, setting, too_big_or_small)
    with pytest.raises(SystemCheckError, match=rf"acuvim\.{check_id}"):
        call_command("check", fail_level="WARNING")
