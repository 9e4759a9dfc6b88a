"""Command intake: acks, duplicates, expiry, unknown commands, refusals and deferred results."""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import json

from firmware_src.device.commands import DEFERRED, CommandError, CommandProcessor
from firmware_src.device.protocol import COMMANDS
from firmware_src.tests.logic.support import FakeClock, Recorder


class Handlers:
    def __init__(self):
        self.pings = 0
        self.deferred = None

    def cmd_ping(self, params, context):
        self.pings += 1
        return {"uptime": 5}

    def cmd_set_transport(self, params, context):
        raise CommandError("invalid_param", "mode must be one of ...")

    def cmd_ota_update(self, params, context):
        self.deferred = context
        return DEFERRED

    def cmd_get_logs(self, params, context):
        raise RuntimeError("boom")


def _setup():
    clock = FakeClock()
    out = Recorder()
    handlers = Handlers()
    logs = []
    processor = CommandProcessor(handlers, out, clock, lambda level, msg: logs.append((level, msg)))
    return processor, handlers, out, clock, logs


def _cmd(req, cmd, **extra):
    message = {"req": req, "cmd": cmd, "params": {}}
    message.update(extra)
    return json.dumps(message).encode()


def test_protocol_has_twenty_commands():
    assert len(COMMANDS) == 20 and len(set(COMMANDS)) == 20


def test_ping_is_acked_then_succeeds_with_data():
    processor, _handlers, out, _clock, _ = _setup()
    processor.handle(_cmd("r1", "ping"))
    assert out.statuses() == ["ack", "success"]
    assert out.messages[1]["data"] == {"uptime": 5} and out.messages[1]["cmd"] == "ping"
    assert out.messages[1]["ts"] == 1764000000.0


def test_repeated_req_is_answered_from_memory_without_running_twice():
    processor, handlers, out, _clock, _ = _setup()
    processor.handle(_cmd("r1", "ping"))
    processor.handle(_cmd("r1", "ping"))
    assert handlers.pings == 1
    assert out.statuses() == ["ack", "success", "success"]
    assert out.messages[2] == out.messages[1]


def test_expired_command_is_refused_with_code_expired():
    processor, handlers, out, clock, _ = _setup()
    processor.handle(_cmd("r1", "ping", exp=clock.now() - 1))
    assert handlers.pings == 0
    assert out.messages[0]["status"] == "error" and out.messages[0]["code"] == "expired"
    processor.handle(_cmd("r2", "ping", exp=clock.now() + 60))
    assert handlers.pings == 1


def test_unknown_command_gets_unknown_command():
    processor, _, out, _clock, _ = _setup()
    processor.handle(_cmd("r1", "self_destruct"))
    assert len(out.messages) == 1
    assert out.messages[0]["status"] == "error" and out.messages[0]["code"] == "unknown_command"


def test_garbage_is_logged_and_counted_not_answered():
    processor, _, out, _clock, logs = _setup()
    processor.handle(b"not json")
    processor.handle(b'{"cmd":"ping"}')
    processor.handle(b'[1,2]')
    assert out.messages == [] and processor.rejected == 3 and logs[0][0] == "warning"


def test_refusal_and_handler_bug_become_errors():
    processor, _, out, _clock, logs = _setup()
    processor.handle(_cmd("r1", "set_transport"))
    processor.handle(_cmd("r2", "get_logs"))
    assert [m.get("code") for m in out.messages] == [None, "invalid_param", None, "failed"]
    assert logs[-1][0] == "error"


def test_params_must_be_an_object():
    processor, _, out, _clock, _ = _setup()
    processor.handle(json.dumps({"req": "r1", "cmd": "ping", "params": [1]}).encode())
    assert out.messages[0]["code"] == "invalid_param"


def test_deferred_command_reports_progress_and_final_result_later():
    processor, handlers, out, _clock, _ = _setup()
    processor.handle(_cmd("r1", "ota_update"))
    assert out.statuses() == ["ack"]
    handlers.deferred.progress(stage="downloading", progress=50)
    processor.handle(_cmd("r1", "ota_update"))
    assert out.messages[-1]["status"] == "progress"
    handlers.deferred.success({"fw": "1.1.0"})
    assert out.statuses() == ["ack", "progress", "progress", "success"]


def test_memory_of_answers_is_bounded():
    processor, handlers, _out, _clock, _ = _setup()
    processor.memory = 3
    for n in range(5):
        processor.handle(_cmd("r%d" % n, "ping"))
    processor.handle(_cmd("r0", "ping"))
    assert handlers.pings == 6
