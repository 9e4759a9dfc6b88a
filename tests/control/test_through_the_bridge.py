"""End to end over the real broker and the real bridge: the console publishes, a gateway answers on `resp`."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from acuvim_console.bridge.service import Bridge
from devices.choices import CommandStatus, DeviceStatus
from devices.control.commands import send_command
from devices.models import Command, Device
from tests.factories import make_device

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def bridge(broker, settings):
    settings.MQTT_BATCH_MAX_WAIT_MS = 20
    settings.MQTT_METRICS_INTERVAL_S = 0
    running = Bridge(client_id=f"test-commands-bridge-{uuid.uuid4().hex[:8]}").start()
    assert running.connected.wait(10), "bridge did not connect"
    time.sleep(0.1)  # subscriptions granted
    yield running
    running.stop()


class AnsweringGateway:
    """Answers every command it receives with ack then success, as firmware does, from its own thread."""

    def __init__(self, gateway, data: dict):
        self.gateway, self.data = gateway, data
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                topic, command = self.gateway.next(timeout=0.2)
            except Exception:
                continue
            resp = topic.rsplit("/", 1)[0] + "/resp"
            base = {"req": command["req"], "cmd": command["cmd"], "ts": int(time.time())}
            self.gateway.publish(resp, base | {"status": "ack"})
            self.gateway.publish(resp, base | {"status": "success", "data": self.data})

    def stop(self):
        self.stopping.set()
        self.thread.join(5)


def test_command_round_trip_through_the_bridge(bridge, gateway):
    device = make_device()
    answering = AnsweringGateway(gateway, {"uptime": 3600})
    try:
        command = send_command(device, "ping")
        assert wait_until(lambda: Command.objects.get(pk=command.pk).status == CommandStatus.SUCCESS)
    finally:
        answering.stop()
    command.refresh_from_db()
    assert command.response == {"uptime": 3600}
    assert command.sent_at <= command.acked_at <= command.completed_at


def test_offline_device_heartbeating_again_through_the_bridge_gets_its_queued_command(bridge, gateway):
    device = make_device(status=DeviceStatus.OFFLINE, last_heartbeat=timezone.now() - timedelta(hours=1))
    command = send_command(device, "get_status")
    assert gateway.empty_after(0.3)
    gateway.publish(f"acuvim/{device.device_id}/heartbeat", {"ts": int(time.time()), "uptime": 5, "hb_s": 60})
    topic, delivered = gateway.next(timeout=10)
    assert topic == f"acuvim/{device.device_id}/cmd" and delivered["req"] == command.request_id
    assert Device.objects.get(pk=device.pk).status == DeviceStatus.ONLINE
    assert wait_until(lambda: Command.objects.get(pk=command.pk).status == CommandStatus.SENT)


def test_send_command_cli_waits_for_and_prints_the_answer(bridge, gateway, capsys):
    device = make_device()
    answering = AnsweringGateway(gateway, {"regs": [16968, 0]})
    try:
        call_command(
            "send_command", device.device_id, "modbus_read", "--params", '{"addr":16384,"count":2}', "--wait", "10"
        )
    finally:
        answering.stop()
    out = capsys.readouterr().out
    assert f"{device.device_id}: modbus_read queued as" in out
    assert 'success {"regs": [16968, 0]}' in out


def test_send_command_cli_to_a_group_prints_the_batch_summary(bridge, gateway, capsys):
    from tests.factories import make_group

    group = make_group("Plant-A")
    members = [make_device(group=group) for _ in range(3)]
    make_device(group=group, status=DeviceStatus.OFFLINE)
    answering = AnsweringGateway(gateway, {"uptime": 1})
    try:
        call_command("send_command", "--group", "Plant-A", "ping", "--wait", "10")
    finally:
        answering.stop()
    out = capsys.readouterr().out
    assert "Plant-A: ping queued for 4 devices" in out
    assert '"success": 3' in out and '"pending": 1' in out and '"total": 4' in out
    for member in members:
        assert f"  {member.device_id}: success" in out
