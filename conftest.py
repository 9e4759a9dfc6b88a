"""Fixtures for every test directory. Real services only: a private Mosquitto here; PostgreSQL and Redis as found."""

import pytest

from tests.support.channel_layer import forget_channel_prefix, new_channel_prefix
from tests.support.mosquitto import Mosquitto


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    """A private Mosquitto for this test session, configured like production."""
    broker = Mosquitto(workdir=tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def live_channel_prefix():
    """This session's channel prefix on the real Redis, so parallel runs never hear each other's events."""
    prefix = new_channel_prefix()
    yield prefix
    forget_channel_prefix(prefix)
