"""`manage.py send_command` explains every mistake clearly (answers are tested through the bridge)."""

import pytest
from django.core.management import CommandError, call_command

from devices.choices import DeviceStatus
from tests.factories import make_device

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "args, message",
    [
        (["ACV-000000000999", "ping"], "no device ACV-000000000999"),
        (["ping"], "give a device id and a command"),
        (["DEVICE", "frobnicate"], "unknown command 'frobnicate'"),
        (["DEVICE", "get_logs", "--params", "{lines: 5}"], "--params refused: not valid JSON"),
        (["DEVICE", "get_logs", "--params", "[5]"], "--params must be a JSON object"),
        (["DEVICE", "get_logs", "--params", '{"lines": 0}'], "lines: must be from 1 to 500"),
        (["--group", "Nowhere", "ping"], "no device group named 'Nowhere'"),
        (["--group", "Nowhere", "ACV-1", "ping"], "with --group give only the command"),
    ],
)
def test_send_command_cli_explains_mistakes(args, message):
    device = make_device(status=DeviceStatus.OFFLINE)
    args = [device.device_id if arg == "DEVICE" else arg for arg in args]
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("{", r"\{")):
        call_command("send_command", *args)


def test_send_command_cli_says_when_no_answer_came_in_time():
    device = make_device(status=DeviceStatus.OFFLINE)
    with pytest.raises(CommandError, match=r"no final answer within 0.3 s \(status pending\)"):
        call_command("send_command", device.device_id, "ping", "--wait", "0.3")
