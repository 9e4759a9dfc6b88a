"""Field defects of issue 17 that the device logic owns, on fakes (CPython and MicroPython alike):
non-repeatable commands remembered across a reboot (12), telemetry floats (14), OTA hardening (13, 14),
and the SD buffer opening a backlog without reading it (8)."""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import json
import os

from firmware_src.device import acuvim, appdesc, fwversion, modbus
from firmware_src.device.canonical import sha256_hex, wire_json
from firmware_src.device.commands import CommandContext, CommandError, CommandProcessor
from firmware_src.device.ota import OtaManager
from firmware_src.device.sdbuffer import SdBuffer
from firmware_src.tests.logic.support import (
    FakeClock,
    FakeDownloader,
    FakeNvs,
    FakePartitions,
    Recorder,
    TempDir,
    raises,
)


class RebootingHandlers:
    def __init__(self):
        self.restarts = 0
        self.pings = 0

    def cmd_restart(self, params, context):
        self.restarts += 1

    def cmd_ping(self, params, context):
        self.pings += 1
        return {"uptime": 1}


def _boot(nvs, out):
    handlers = RebootingHandlers()
    return CommandProcessor(handlers, out, FakeClock(), lambda level, msg: None, store=nvs), handlers


def test_a_restart_repeated_after_the_reboot_is_answered_not_run_again():
    nvs = FakeNvs()
    out = Recorder()
    first, handlers = _boot(nvs, out)
    first.handle(json.dumps({"req": "r-restart", "cmd": "restart", "params": {}}))
    assert handlers.restarts == 1
    second, handlers = _boot(nvs, out)  # the reboot: RAM is gone, NVS is not
    second.handle(json.dumps({"req": "r-restart", "cmd": "restart", "params": {}}))
    assert handlers.restarts == 0
    assert out.messages[-1]["req"] == "r-restart" and out.messages[-1]["status"] == "success"


def test_only_commands_that_must_not_repeat_are_written_to_nvs():
    nvs = FakeNvs()
    processor, _ = _boot(nvs, Recorder())
    for number in range(40):
        processor.handle(json.dumps({"req": "p%d" % number, "cmd": "ping"}))
    assert nvs.get("answers", []) == []
    for number in range(20):
        processor.handle(json.dumps({"req": "r%d" % number, "cmd": "restart"}))
    kept = nvs.get("answers")
    assert len(kept) == 16 and kept[-1][0] == "r19"


def test_telemetry_floats_carry_no_binary_noise():
    regs = []
    for value in (9.8, 230.1, 0.95):
        regs.extend(modbus.float_to_regs(value))
    record = {"i1": acuvim.decode_realtime(regs + [0] * (2 * len(acuvim.REALTIME_FIELDS) - len(regs)))["f"]}
    record["direct"] = round(9.8, 2)
    record["ts"] = 1764000000.123
    text = wire_json(record)
    assert "9.800000000000001" not in text and '"direct":9.8' in text and '"ts":1764000000.123' in text
    assert json.loads(text)["i1"] == 9.8


class _Ota:
    def __init__(self, tmp, data, running="1.2.0", download_path="/ota.bin"):
        self.out = Recorder()
        self.feeds = [0]
        self.partitions = FakePartitions(running)
        self.downloader = FakeDownloader(data)
        path = tmp + download_path if download_path else None
        self.ota = OtaManager(FakeNvs(), self.partitions, self.downloader, path, lambda level, msg: None, 60.0,
                              self._feed)
        self.processor = CommandProcessor(None, self.out, FakeClock(), lambda level, msg: None)

    def _feed(self):
        self.feeds[0] += 1

    def start(self, data, version="1.3.0", sha=None, allow_downgrade=None):
        context = CommandContext(self.processor, "req-ota", "ota_update")
        params = {"url": "http://console/fw", "sha256": sha or sha256_hex(data), "size": len(data), "version": version}
        if allow_downgrade is not None:
            params["allow_downgrade"] = allow_downgrade
        self.ota.start(params, context, "tok")

    def download(self):
        self.ota.tick(0.0, True)
        while self.downloader.current.state == "running":
            self.downloader.current.step(4096)
            self.ota.tick(0.0, True)


def test_sha256_must_be_hex_not_just_64_characters():
    with TempDir() as tmp:
        device = _Ota(tmp, b"")
        error = raises(CommandError, device.start, b"x", "1.3.0", "z" * 64)
        assert error.code == "invalid_param"


def test_no_sd_card_refuses_the_update_instead_of_filling_the_flash():
    with TempDir() as tmp:
        device = _Ota(tmp, b"", download_path=None)
        error = raises(CommandError, device.start, b"x")
        assert "SD" in error.msg


def test_the_running_version_and_foreign_projects_are_refused():
    with TempDir() as tmp:
        same = appdesc.build_header("1.2.0") + b"\0" * 5000
        device = _Ota(tmp, same)
        device.start(same, version="1.3.0")  # the parameter says newer; the image's descriptor decides
        device.download()
        answer = device.out.messages[-1]
        assert answer["code"] == "same_version" and "already running" in answer["msg"], answer
        foreign = appdesc.build_header("2.0.0", "someone-else") + b"\0" * 5000
        device = _Ota(tmp, foreign)
        device.start(foreign)
        device.download()
        answer = device.out.messages[-1]
        assert answer["code"] == "wrong_project" and "someone-else" in answer["msg"], answer
        bare = b"\0" * 5000  # no app descriptor, so no project name either
        device = _Ota(tmp, bare)
        device.start(bare)
        device.download()
        assert device.out.messages[-1]["code"] == "invalid_image" and not device.ota.reboot_requested
        assert device.partitions.slots["ota_1"]["state"] == "empty" and not os.listdir(tmp)


def test_same_version_and_downgrade_are_refused_before_anything_is_downloaded():
    with TempDir() as tmp:
        device = _Ota(tmp, b"", running="1.10.0")
        assert raises(CommandError, device.start, b"x", "1.10.0").code == "same_version"
        assert raises(CommandError, device.start, b"x", "v1.10.0+build.7").code == "same_version"
        error = raises(CommandError, device.start, b"x", "1.9.2")  # older, although "1.9.2" > "1.10.0" as text
        assert error.code == "downgrade" and "allow_downgrade" in error.msg
        assert raises(CommandError, device.start, b"x", "1.10.0-rc.1").code == "downgrade"
        assert raises(CommandError, device.start, b"x", "nightly").code == "downgrade"  # no order: not guessed
        assert device.downloader.current is None and device.ota.job is None


def test_an_older_image_behind_a_newer_version_parameter_is_refused_as_a_downgrade():
    with TempDir() as tmp:
        older = appdesc.build_header("1.1.0") + b"\0" * 5000
        device = _Ota(tmp, older)
        device.start(older, version="1.3.0")
        device.download()
        answer = device.out.messages[-1]
        assert answer["code"] == "downgrade" and "1.1.0" in answer["msg"], answer
        assert device.partitions.slots["ota_1"]["state"] == "empty" and not device.ota.reboot_requested


def test_allow_downgrade_installs_an_older_image_and_must_be_a_boolean():
    with TempDir() as tmp:
        older = appdesc.build_header("1.1.0") + b"\0" * 5000
        device = _Ota(tmp, older)
        error = raises(CommandError, device.start, older, "1.1.0", None, "yes")
        assert error.code == "invalid_param"
        device.start(older, version="1.1.0", allow_downgrade=True)
        device.download()
        assert device.ota.reboot_requested and device.partitions.slots["ota_1"]["version"] == "1.1.0"
        device = _Ota(tmp, b"")
        assert raises(CommandError, device.start, b"x", "1.2.0", None, True).code == "same_version"


def test_versions_order_like_the_consoles():
    ordered = ["0.9.0", "1.2.0-alpha", "1.2.0-alpha.1", "1.2.0-alpha.beta", "1.2.0-beta.2", "1.2.0-beta.11",
               "1.2.0-rc.1", "1.2", "1.2.1", "1.9.2", "1.10.0"]
    for n in range(1, len(ordered)):  # MicroPython has no itertools.pairwise
        older, newer = ordered[n - 1], ordered[n]
        assert fwversion.compare(older, newer) == -1 and fwversion.compare(newer, older) == 1, (older, newer)
    assert fwversion.compare("v1.2.0+abc", "1.2.0") == 0
    for bad in ("", "1", "1.02.0", "1.2.3.4", "1.2.0-", "1.2.0-a..b", "x.y.z", None, 7):
        assert fwversion.sort_key(bad) is None, bad


def test_hashing_and_copying_feed_the_watchdog():
    with TempDir() as tmp:
        image = appdesc.build_header("1.3.0") + bytes(range(256)) * 400
        device = _Ota(tmp, image)
        device.start(image)
        device.download()
        assert device.ota.reboot_requested
        assert device.feeds[0] >= 2 * (len(image) // 4096)


def test_a_storage_error_during_the_update_fails_the_command_instead_of_the_device():
    with TempDir() as tmp:
        image = appdesc.build_header("1.3.0") + b"\0" * 9000
        device = _Ota(tmp, image)

        def broken_writer():
            raise OSError(5)

        device.partitions.open_next = broken_writer
        device.start(image)
        device.download()
        assert device.out.messages[-1]["status"] == "error" and "storage" in device.out.messages[-1]["msg"]
        assert device.ota.job is None


def test_reopening_a_backlog_reads_only_the_open_segment():
    with TempDir() as tmp:
        buffer = SdBuffer(tmp + "/buf", 1024, 10 * 1024 * 1024)
        for seq in range(200):
            buffer.append({"ts": 1764000000.0 + seq, "seq": seq, "pad": "x" * 100})
        segments = buffer.file_count()
        counted = []
        original = SdBuffer._count_lines

        def counting(self, number):
            counted.append(number)
            return original(self, number)

        SdBuffer._count_lines = counting
        feeds = []
        try:
            reopened = SdBuffer(tmp + "/buf", 1024, 10 * 1024 * 1024, lambda: feeds.append(1))
        finally:
            SdBuffer._count_lines = original
        assert reopened.queued == 200
        assert len(counted) == 1 and segments > 10
        assert len(feeds) == segments
