import pytest

from acuvim_console.core import mqtt_publisher
from devices.control.commands import publish_pause
from tests.control.live_events import LiveEvents
from tests.control.mqtt_inbox import Inbox


@pytest.fixture
def broker(settings, mqtt_broker):
    """The private Mosquitto, with the console's publisher pointed at it."""
    mqtt_publisher.close()
    publish_pause.lift()
    settings.MQTT_URL = mqtt_broker.url
    yield mqtt_broker
    mqtt_publisher.close()


@pytest.fixture
def gateway(broker):
    """Sees what gateways receive on `acuvim/+/cmd` and can answer on their `resp` topics."""
    inbox = Inbox(broker.port, "acuvim/+/cmd")
    yield inbox
    inbox.close()


@pytest.fixture
def live_events():
    """What the admin's live pages would receive."""
    events = LiveEvents()
    yield events
    events.close()
