"""Fixtures for every test directory. Real services only: a private Mosquitto here; PostgreSQL and Redis as found."""

import pytest

from tests.support.mosquitto import Mosquitto


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    """A private Mosquitto for this test session, configured like production."""
    broker = Mosquitto(workdir=tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()
