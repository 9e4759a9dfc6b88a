"""System checks on the bridge's settings."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def test_check_warns_when_a_batch_does_not_fit_three_times_in_the_in_flight_window(settings):
    settings.MQTT_BATCH_SIZE, settings.MQTT_RECEIVE_MAXIMUM = 1000, 3000
    call_command("check", fail_level="WARNING")
    settings.MQTT_RECEIVE_MAXIMUM = 2999
    with pytest.raises(SystemCheckError, match=r"acuvim\.W001"):
        call_command("check", fail_level="WARNING")


def test_check_warns_when_a_queue_could_fill_before_the_in_flight_window(settings):
    settings.MQTT_QUEUE_SIZE, settings.MQTT_RECEIVE_MAXIMUM = 3000, 3000
    call_command("check", fail_level="WARNING")
    settings.MQTT_QUEUE_SIZE = 2999
    with pytest.raises(SystemCheckError, match=r"acuvim\.W002"):
        call_command("check", fail_level="WARNING")
