import pytest

from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER, role_of
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_viewer_reads_but_cannot_act():
    viewer = make_user(VIEWER)
    assert viewer.has_perm("devices.view_device") and viewer.has_perm("telemetry.view_telemetryrecord")
    assert not viewer.has_perm("devices.send_command")
    assert not viewer.has_perm("alerts.acknowledge_alert")


def test_operator_acts_on_devices_but_cannot_manage_users_or_firmware_files():
    operator = make_user(OPERATOR)
    for perm in ("devices.send_command", "devices.push_config", "firmware.deploy_firmware", "alerts.acknowledge_alert"):
        assert operator.has_perm(perm), perm
    for perm in (
        "auth.add_user",
        "firmware.add_firmwareversion",
        "firmware.delete_firmwareversion",
        "devices.delete_device",
    ):
        assert not operator.has_perm(perm), perm


def test_admin_manages_everything():
    admin = make_user(ADMIN)
    assert admin.has_perm("auth.add_user") and admin.has_perm("firmware.delete_firmwareversion")
    assert role_of(admin) == ADMIN


def test_role_of_picks_the_highest_role_and_none_for_plain_users():
    assert role_of(make_user(OPERATOR)) == OPERATOR
    assert role_of(make_user()) is None
