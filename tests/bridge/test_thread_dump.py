"""A bridge that stops making progress can be asked, from outside, where each of its threads is."""

import signal
import time

from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, telemetry_table_locked, wait_until
from tests.factories import make_device


def test_sigusr1_prints_every_threads_stack_and_the_bridge_goes_on(transactional_db, own_broker, bridge_processes):
    device = make_device()
    bridge = bridge_processes(own_broker.url)
    publisher = DeviceClient(own_broker.port)
    try:
        publisher.wait_for_bridge(bridge.client_id)
        with telemetry_table_locked():  # the writer is caught inside its commit, as in a stall
            publisher.send(f"acuvim/{device.device_id}/telemetry", messages.reading(time.time() - 60))
            time.sleep(1)
            bridge.process.send_signal(signal.SIGUSR1)
            dump = wait_until(lambda: "telemetry_writer.py" in bridge.log() and bridge.log())
        assert "acuvim_console/bridge/control.py" in dump, "the control workers are in the dump too"
        assert "store_readings" in dump, "the writer is shown where it waits"
        time.sleep(0.5)
        assert bridge.alive()
        wait_until(lambda: device.telemetry.count() == 1)
    finally:
        publisher.close()
