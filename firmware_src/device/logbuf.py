"""Ring buffer of recent log lines, served by the `get_logs` command, filtered by the runtime log level."""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class LogBuffer:
    def __init__(self, size=100, level="info", sink=None):
        self.size = size
        self.level = level
        self.sink = sink
        self._lines = []

    def log(self, level, ts, message):
        if LEVELS.get(level, 20) < LEVELS.get(self.level, 20):
            return
        line = "%s %s %s" % (ts if ts is not None else "-", level.upper(), message)
        self._lines.append(line)
        if len(self._lines) > self.size:
            self._lines.pop(0)
        if self.sink is not None:
            self.sink(level, message)

    def tail(self, count):
        count = max(0, min(int(count), self.size))
        return self._lines[-count:] if count else []
