"""The live-event tests run on the production channel layer (tests/support/channel_layer.py)."""

import pytest

from tests.support.channel_layer import redis_channel_layer


@pytest.fixture(autouse=True)
def production_channel_layer(live_channel_prefix):
    with redis_channel_layer(live_channel_prefix) as layer:
        yield layer
