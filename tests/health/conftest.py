from tests.control.conftest import broker, gateway, live_events  # noqa: F401  (shared real-service fixtures)
