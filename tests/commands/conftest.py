import pytest

from acuvim_console.mqtt import publisher
from devices.commands import publish_pause
from tests.commands.live_events import LiveEvents
from tests.commands.mqtt_inbox import Inbox


@pytest.fixture
def broker(settings, mqtt_broker):
    """The private Mosquitto, with the console's publisher pointed at it."""
    publisher.close()
    publish_pause.lift()
    settings.MQTT_URL = mqtt_broker.url
    yield mqtt_broker
    publisher.close()


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
