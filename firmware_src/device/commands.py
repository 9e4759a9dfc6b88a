"""Command intake: parsing, expiry, duplicate `req` detection and response bookkeeping.

Handlers are looked up by name among the 20 protocol commands. A handler returns the success `data`
(or None), raises CommandError for a refusal, or returns DEFERRED when it finishes later (OTA, restart):
it then reports through the `CommandContext` it was given. Every response sent for a `req` is remembered
(for the last `memory` requests), so a repeated `req` is answered with the latest response instead of
running the command twice. For the commands that must not run twice (they reboot, wipe or rewrite
something) that memory is also kept in NVS, because the console may repeat a `req` after the reboot
the command itself caused.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import json

from .protocol import COMMANDS, ErrorCode, Status

DEFERRED = object()
NOT_REPEATABLE = ("restart", "factory_reset", "clear_energy", "sd_clear", "ota_update")
ANSWERS_KEY = "answers"
PERSISTED_ANSWERS = 16


class CommandError(Exception):
    def __init__(self, code, msg=""):
        super().__init__(code + ": " + msg)
        self.code = code
        self.msg = msg


class CommandContext:
    """What a deferred handler uses to report progress and the final outcome of its `req`."""

    def __init__(self, processor, req, cmd):
        self.processor = processor
        self.req = req
        self.cmd = cmd

    def progress(self, **fields):
        self.processor.respond(self.req, self.cmd, Status.PROGRESS, fields)

    def success(self, data=None):
        self.processor.respond(self.req, self.cmd, Status.SUCCESS, {"data": data} if data is not None else {})

    def error(self, code, msg=""):
        self.processor.respond(self.req, self.cmd, Status.ERROR, {"code": code, "msg": msg})


class CommandProcessor:
    def __init__(self, handlers, publish, clock, log, memory=32, store=None):
        self.handlers = handlers
        self.publish = publish
        self.clock = clock
        self.log = log
        self.memory = memory
        self.store = store
        self._answers = {}
        self._order = []
        self.rejected = 0
        self._persisted = store.get(ANSWERS_KEY, []) if store is not None else []
        for req, message in self._persisted:
            self._remember(req, message)

    def respond(self, req, cmd, status, fields=None):
        message = {"req": req, "cmd": cmd, "status": status, "ts": self.clock.now()}
        if fields:
            message.update(fields)
        self._remember(req, message)
        self.publish(message)

    def _remember(self, req, message):
        if req not in self._answers:
            self._order.append(req)
            if len(self._order) > self.memory:
                del self._answers[self._order.pop(0)]
        self._answers[req] = message
        if self.store is not None and message.get("cmd") in NOT_REPEATABLE:
            kept = [entry for entry in self._persisted if entry[0] != req]
            kept.append([req, message])
            self._persisted = kept[-PERSISTED_ANSWERS:]
            self.store.set(ANSWERS_KEY, self._persisted)

    def handle(self, payload):
        try:
            message = json.loads(payload)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("req"), str) or not message["req"]:
            self.rejected += 1
            self.log("warning", "command rejected: not a JSON object with a req")
            return
        req = message["req"]
        cmd = message.get("cmd")
        if req in self._answers:
            self.log("info", "duplicate req %s: repeating the earlier answer" % req)
            self.publish(self._answers[req])
            return
        if not isinstance(cmd, str) or cmd not in COMMANDS:
            refusal = {"code": ErrorCode.UNKNOWN_COMMAND, "msg": "unknown command %r" % (cmd,)}
            self.respond(req, cmd, Status.ERROR, refusal)
            return
        exp = message.get("exp")
        now = self.clock.now()
        if isinstance(exp, (int, float)) and not isinstance(exp, bool) and now is not None and now > exp:
            self.respond(req, cmd, Status.ERROR, {"code": ErrorCode.EXPIRED, "msg": "expired %.0f s ago" % (now - exp)})
            return
        params = message.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self.respond(req, cmd, Status.ERROR, {"code": ErrorCode.INVALID_PARAM, "msg": "params must be an object"})
            return
        self.respond(req, cmd, Status.ACK)
        context = CommandContext(self, req, cmd)
        try:
            result = getattr(self.handlers, "cmd_" + cmd)(params, context)
        except CommandError as error:
            context.error(error.code, error.msg)
            return
        except Exception as error:  # a handler bug must not take the device down
            self.log("error", "command %s failed: %r" % (cmd, error))
            context.error(ErrorCode.FAILED, str(error))
            return
        if result is not DEFERRED:
            context.success(result)


def require_confirm(params):
    if params.get("confirm") is not True:
        raise CommandError(ErrorCode.INVALID_PARAM, "confirm must be true")


def int_param(params, name, low, high, default=None):
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CommandError(ErrorCode.INVALID_PARAM, "%s must be an integer from %d to %d" % (name, low, high))
    return value
