"""OTA state machine with simulated partitions: success after self-test, rollback, resume, bad images."""

import os

from firmware_src.device import appdesc
from firmware_src.device.canonical import sha256_hex
from firmware_src.device.commands import CommandContext, CommandError, CommandProcessor
from firmware_src.device.ota import OtaManager
from firmware_src.tests.logic.support import (
    FakeClock,
    FakeDownloader,
    FakeNvs,
    FakePartitions,
    Recorder,
    TempDir,
    raises,
)

IMAGE = appdesc.build_header("1.3.0") + bytes(range(256)) * 40


class Device:
    """One boot's worth of OTA wiring around persistent NVS and partitions."""

    def __init__(self, tmp, nvs, partitions, downloader, out):
        self.clock = FakeClock()
        self.processor = CommandProcessor(None, out, self.clock, lambda level, msg: None)
        self.ota = OtaManager(nvs, partitions, downloader, tmp + "/ota.bin", lambda level, msg: None, selftest_s=60.0)
        self.ota.boot(0.0)


def _params(data=IMAGE):
    return {"url": "http://console/api/firmware/7/download", "version": "1.3.0", "sha256": sha256_hex(data),
            "size": len(data)}


def _download(device, downloader, link_up=True):
    device.ota.tick(0.0, link_up)
    while downloader.current.state == "running":
        downloader.current.step(1000)
        device.ota.tick(0.0, link_up)


def _start(tmp, data=IMAGE, fail_after=None):
    nvs = FakeNvs()
    partitions = FakePartitions("1.2.0")
    downloader = FakeDownloader(data, fail_after)
    out = Recorder()
    device = Device(tmp, nvs, partitions, downloader, out)
    context = CommandContext(device.processor, "req-1", "ota_update")
    device.ota.start(_params(data), context, "tok-123")
    return nvs, partitions, downloader, out, device


def test_update_passes_its_self_test_and_reports_success_after_reboot():
    with TempDir() as tmp:
        nvs, partitions, downloader, out, device = _start(tmp)
        _download(device, downloader)
        stages = [m.get("stage") for m in out.messages if m["status"] == "progress"]
        assert stages[0] == "downloading" and stages[-3:] == ["verifying", "writing", "rebooting"]
        assert device.ota.reboot_requested
        assert downloader.requests[0][1]["Authorization"] == "Device tok-123"
        assert [m for m in out.messages if m["status"] == "success"] == []
        partitions.power_cycle()
        rebooted = Device(tmp, nvs, partitions, downloader, out)
        assert partitions.running_version() == "1.3.0" and rebooted.ota.self_test_pending()
        assert rebooted.ota.heartbeat_info()["state"] == "pending_verify"
        rebooted.ota.on_mqtt_connected(rebooted.processor)
        final = out.messages[-1]
        assert final["status"] == "success" and final["req"] == "req-1" and final["data"]["fw"] == "1.3.0"
        assert partitions.running_state() == "valid"
        assert rebooted.ota.heartbeat_info() == {"state": "valid", "prev": "1.2.0"}
        assert partitions.slots["ota_1"]["data"] == IMAGE


def test_failed_self_test_rolls_back_and_reports_rolled_back():
    with TempDir() as tmp:
        nvs, partitions, downloader, out, device = _start(tmp)
        _download(device, downloader)
        partitions.power_cycle()
        rebooted = Device(tmp, nvs, partitions, downloader, out)
        assert not rebooted.ota.tick_selftest(59.0)
        assert rebooted.ota.tick_selftest(61.0)
        partitions.power_cycle()
        assert partitions.running_version() == "1.2.0"
        old = Device(tmp, nvs, partitions, downloader, out)
        failure = old.ota.on_mqtt_connected(old.processor)
        assert "1.3.0" in failure
        final = out.messages[-1]
        assert final["status"] == "error" and final["code"] == "rolled_back" and final["req"] == "req-1"
        assert old.ota.heartbeat_info() == {"state": "rolled_back", "prev": "1.2.0", "failed": "1.3.0"}
        count = len(out.messages)
        old.ota.on_mqtt_connected(old.processor)
        assert len(out.messages) == count


def test_crash_before_the_self_test_is_rolled_back_by_the_bootloader():
    with TempDir() as tmp:
        nvs, partitions, downloader, out, device = _start(tmp)
        _download(device, downloader)
        partitions.power_cycle()
        Device(tmp, nvs, partitions, downloader, out)
        partitions.power_cycle()  # the new image crashed before marking itself valid
        old = Device(tmp, nvs, partitions, downloader, out)
        assert partitions.running_version() == "1.2.0"
        old.ota.on_mqtt_connected(old.processor)
        assert out.messages[-1]["code"] == "rolled_back"


def test_broken_link_resumes_with_a_range_request():
    with TempDir() as tmp:
        _nvs, partitions, downloader, _out, device = _start(tmp, fail_after=3000)
        device.ota.tick(0.0, True)
        while downloader.current.state == "running":
            downloader.current.step(1000)
        device.ota.tick(0.0, True)
        assert device.ota.job["attempts"] == 1
        device.ota.tick(100.0, True)
        assert downloader.requests[1][1]["Range"] == "bytes=3000-" and downloader.requests[1][2] == 3000
        while downloader.current.state == "running":
            downloader.current.step(1000)
            device.ota.tick(100.0, True)
        device.ota.tick(100.0, True)
        assert partitions.slots["ota_1"]["data"] == IMAGE


def test_checksum_mismatch_is_refused_and_nothing_is_written():
    with TempDir() as tmp:
        _nvs, partitions, downloader, out, device = _start(tmp)
        downloader.data = IMAGE[:-1] + b"X"
        _download(device, downloader)
        assert out.messages[-1]["code"] == "checksum_mismatch"
        assert partitions.slots["ota_1"]["state"] == "empty" and not device.ota.busy()
        assert not os.listdir(tmp)


def test_second_update_while_busy_is_refused():
    with TempDir() as tmp:
        _nvs, _partitions, _downloader, _out, device = _start(tmp)
        error = raises(CommandError, device.ota.start, _params(), None, "tok")
        assert error.code == "busy"


def test_rollback_command_needs_a_valid_previous_image():
    with TempDir() as tmp:
        nvs = FakeNvs()
        partitions = FakePartitions("1.2.0")
        device = Device(tmp, nvs, partitions, FakeDownloader(IMAGE), Recorder())
        assert raises(CommandError, device.ota.rollback).code == "no_previous_image"
        partitions.slots["ota_1"] = {"state": "valid", "version": "1.1.0"}
        assert device.ota.rollback() == "1.1.0"
        partitions.power_cycle()
        assert partitions.running_version() == "1.1.0"


def test_image_version_comes_from_the_app_descriptor():
    assert appdesc.parse_header(appdesc.build_header("2.0.1-rc1", "acuvim")) == ("2.0.1-rc1", "acuvim")
    raises(appdesc.ImageError, appdesc.parse_header, b"\x00" * appdesc.HEADER_LEN)
