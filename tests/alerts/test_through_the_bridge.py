"""Rules and notifications with the real bridge and broker: a restart mid-duration, offline end to end."""

import threading
import time

import pytest

from acuvim_console.scheduler import run_periodic_tasks
from alerts.models import Alert, AlertRule, AlertRuleState, NotificationChannel, RulePhase
from devices.models import Device
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, wait_until
from tests.factories import make_device
from tests.support.bridge_process import BridgeProcess


def test_a_bridge_killed_in_the_middle_of_a_duration_leaves_the_next_one_to_open_the_alert(
    transactional_db, mqtt_broker, tmp_path
):
    device = make_device()
    rule = AlertRule.objects.create(name="V1 high", field="v1", op=">", threshold=250, clear_threshold=245,
                                    duration_s=4)
    topic = f"acuvim/{device.device_id}/telemetry"
    publisher = DeviceClient(mqtt_broker.port)
    first = second = None
    try:
        first = BridgeProcess(mqtt_broker.url, "rule-restart-bridge", tmp_path / "first.log")
        publisher.wait_for_bridge("rule-restart-bridge")
        t0 = time.time()
        publisher.send(topic, messages.reading(t0, seq=1, v1=260.0))
        wait_until(lambda: AlertRuleState.objects.filter(rule=rule, phase=RulePhase.PENDING).exists(), timeout=20)
        first.kill()

        second = BridgeProcess(mqtt_broker.url, "rule-restart-bridge", tmp_path / "second.log")
        publisher.wait_for_bridge("rule-restart-bridge")
        publisher.send(topic, messages.reading(t0 + 2, seq=2, v1=258.0))
        publisher.send(topic, messages.reading(t0 + 4, seq=3, v1=261.0))  # 4 s after the first breach
        alert = wait_until(lambda: Alert.objects.filter(rule=rule).first(), timeout=20)
        assert alert.device_id == device.pk and alert.value == 261.0 and alert.occurrences == 1
        assert AlertRuleState.objects.get(rule=rule).phase == RulePhase.FIRING
    finally:
        publisher.close()
        for process in (first, second):
            if process is not None:
                process.kill()


@pytest.fixture
def periodic_jobs():
    """The embedded scheduler thread running the real periodic tasks at test speed."""
    stopping = threading.Event()
    threads = []

    def start(tasks: dict):
        thread = threading.Thread(target=run_periodic_tasks, args=(tasks, stopping), daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stopping.set()
    for thread in threads:
        thread.join(10)


def test_a_gateway_that_stops_heartbeating_reaches_the_webhook_as_an_offline_notification(
    start_bridge, webhook, periodic_jobs, mqtt_broker, settings
):
    settings.HEALTH_DEGRADED_AFTER_MISSED, settings.HEALTH_OFFLINE_AFTER_MISSED = 1, 2
    start_bridge()
    device = make_device(heartbeat_interval=1)
    receiver = webhook(secret="k")
    NotificationChannel.objects.create(name="ops", kind="webhook", url=receiver.url, secret="k",
                                       min_severity="warning", alert_types=["device_offline"])
    gateway = DeviceClient(mqtt_broker.port)
    try:
        gateway.send(f"acuvim/{device.device_id}/heartbeat", messages.heartbeat(hb_s=1))
        wait_until(lambda: Device.objects.get(pk=device.pk).last_heartbeat > device.last_heartbeat)
    finally:
        gateway.close()  # the gateway goes quiet
    periodic_jobs({
        "health": ("devices.tasks.health_sweep", 0.2),
        "notifications": ("alerts.tasks.notification_sweep", 0.2),
    })
    wait_until(lambda: receiver.requests, timeout=20)
    (document,) = receiver.documents()
    (item,) = document["notifications"]
    assert receiver.requests[0]["signature_ok"]
    assert (item["event"], item["alert"]["alert_type"], item["device"]["device_id"]) == (
        "opened", "device_offline", device.device_id
    )
