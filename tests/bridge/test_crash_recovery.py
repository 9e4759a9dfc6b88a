"""Zero loss across a bridge crash: SIGKILL mid-stream, restart, every record stored exactly once."""

import json
import signal
import subprocess
import threading
import time
import uuid

from django.db.models import Count

from acuvim_console.mqtt.metrics import metrics
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.bridge.conftest import DeviceClient, wait_until
from tests.factories import make_device
from tests.support.bridge_process import start_bridge_process, stop_bridge_process

RECORDS = 3000


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_sigkill_in_the_middle_of_a_stream_loses_nothing(transactional_db, mqtt_broker):
    devices = [make_device() for _ in range(5)]
    client_id = f"crash-bridge-{uuid.uuid4().hex[:6]}"
    first = start_bridge_process(mqtt_broker.url, client_id)
    second = publisher = None
    try:
        publisher = DeviceClient(mqtt_broker.port, max_inflight=50)
        start = time.time() - 7200
        publisher.wait_for_bridge(client_id)
        publisher.send(f"acuvim/{devices[0].device_id}/telemetry", messages.reading(start - 1, seq=0))
        wait_until(lambda: TelemetryRecord.objects.exists(), timeout=10)

        def publish_stream():
            for n in range(RECORDS):
                device = devices[n % len(devices)]
                record = json.dumps(messages.reading(start + n, seq=n))
                publisher.client.publish(f"acuvim/{device.device_id}/telemetry", record, qos=1)
                if n % 100 == 0:
                    time.sleep(0.02)

        streamer = threading.Thread(target=publish_stream)
        streamer.start()
        wait_until(lambda: TelemetryRecord.objects.count() > RECORDS // 4, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = TelemetryRecord.objects.count()
        assert killed_at < RECORDS + 1, "the stream should still be running when the bridge dies"
        streamer.join(60)

        second = start_bridge_process(mqtt_broker.url, client_id)
        wait_until(lambda: TelemetryRecord.objects.count() == RECORDS + 1, timeout=40, interval=0.2)
        time.sleep(0.5)
        assert TelemetryRecord.objects.count() == RECORDS + 1
        per_device = dict(TelemetryRecord.objects.values_list("device").annotate(n=Count("id")))
        assert sorted(per_device.values()) == [600, 600, 600, 600, 601]
    finally:
        if publisher is not None:
            publisher.close()
        stop(first)
        if second is not None:
            stop_bridge_process(second)


def test_broker_restart_the_bridge_reconnects_and_resumes_its_session(start_bridge, mqtt_broker, settings):
    settings.MQTT_RECONNECT_MIN_S = 1
    settings.MQTT_RECONNECT_MAX_S = 2
    bridge = start_bridge()
    device = make_device()
    publisher = DeviceClient(mqtt_broker.port)
    topic = f"acuvim/{device.device_id}/telemetry"
    start = time.time() - 3600
    try:
        for n in range(100):
            publisher.send(topic, messages.reading(start + n, seq=n))
        wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 100)

        mqtt_broker.restart()
        wait_until(lambda: bridge.connected.is_set() and publisher.client.is_connected(), timeout=20)
        for n in range(100, 200):
            publisher.send(topic, messages.reading(start + n, seq=n))
        wait_until(lambda: TelemetryRecord.objects.filter(device=device).count() == 200, timeout=20)
        assert metrics.snapshot()["connects"] >= 2
    finally:
        publisher.close()
