"""The bridge fixtures (in-process bridges, `mqtt_bridge` processes, a device-side client) for the metrics tests."""

from tests.bridge.conftest import bridge_processes, bridge_settings, device_client  # noqa: F401 - fixtures
