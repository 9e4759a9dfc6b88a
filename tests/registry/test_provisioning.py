import pytest
from django.core.management import CommandError, call_command

from devices.choices import DeviceStatus
from devices.models import Device
from devices.registry.tokens import device_for_token, hash_token

pytestmark = pytest.mark.django_db


def _token_from(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if "Device token" in line)


def test_provision_device_accepts_the_device_and_prints_its_token_once(capsys):
    call_command("provision_device", "ACV-AABBCCDDEEFF", "--name", "Feeder 4", "--group", "Building A")
    token = _token_from(capsys.readouterr().out)
    device = Device.objects.get(device_id="ACV-AABBCCDDEEFF")
    assert device.status == DeviceStatus.OFFLINE
    assert device.preprovisioned and device.group.name == "Building A"
    assert device.token_hash == hash_token(token) and token not in device.token_hash
    assert device_for_token(token) == device
    assert device.status_changes.get().reason == "provisioned"


def test_reprovisioning_rotates_the_token(capsys):
    call_command("provision_device", "ACV-AABBCCDDEE01")
    old = _token_from(capsys.readouterr().out)
    call_command("provision_device", "ACV-AABBCCDDEE01")
    new = _token_from(capsys.readouterr().out)
    assert old != new
    assert device_for_token(old) is None
    assert device_for_token(new).device_id == "ACV-AABBCCDDEE01"


def test_invalid_device_id_is_refused_with_a_clear_message():
    with pytest.raises(CommandError, match="not a device id"):
        call_command("provision_device", "ACV-NOPE")
    assert not Device.objects.exists()


@pytest.mark.parametrize("token", ["", "acvt_", "nope", "acvt_" + "x" * 200])
def test_unknown_or_malformed_tokens_find_no_device(token):
    assert device_for_token(token) is None
