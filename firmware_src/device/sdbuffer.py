"""Store-and-forward buffer for telemetry on the SD card: JSONL segments, rotation, a size cap, ordered drain.

Records are appended to the newest segment (`q00000001.jsonl`, ...); a segment that reaches
`segment_bytes` is closed and a new one started. When the total passes `cap_bytes` the oldest segment
is dropped (counted in `dropped`), because the newest data matters most after a long outage.
Draining reads from a persisted cursor (segment + byte offset) oldest first; the cursor only moves when
the broker acknowledged a batch, so a reboot in the middle re-sends at most the unacknowledged batches
(the console stores each `(device_id, ts)` once, so that is harmless) and loses nothing.

Opening the buffer must stay quick with a big backlog (the watchdog is armed at boot): the line count
of every closed segment is kept in `lines.json`, so only segments missing there are read, and `feed`
(the watchdog) is called after each one.
"""
# ruff: noqa: UP031, SIM105 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import json
import os

_PREFIX = "q"
_SUFFIX = ".jsonl"
_CURSOR = "cursor.json"
_LINES = "lines.json"


def _segment_name(number):
    return "%s%08d%s" % (_PREFIX, number, _SUFFIX)


def _file_size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


class SdBuffer:
    def __init__(self, root, segment_bytes=65536, cap_bytes=64 * 1024 * 1024, feed=None):
        self.root = root
        self.segment_bytes = segment_bytes
        self.cap_bytes = cap_bytes
        self.dropped = 0
        self.corrupt_lines = 0
        self._ensure_dir()
        self._segments = self._scan()
        self._seal_torn_tail()
        known = self._load_line_index()
        last = self._segments[-1] if self._segments else None
        self._lines = {}
        for number in self._segments:
            count = known.get(str(number))
            if count is None or number == last:
                count = self._count_lines(number)
            self._lines[number] = count
            if feed is not None:
                feed()
        self._sizes = {number: _file_size(self._path(number)) for number in self._segments}
        self._cursor = self._load_cursor()
        self._read_pos = self._cursor
        self.queued = self._count_queued()

    # -- layout -------------------------------------------------------------------------------
    def _ensure_dir(self):
        try:
            os.mkdir(self.root)
        except OSError:
            pass

    def _path(self, name_or_number):
        if isinstance(name_or_number, int):
            name_or_number = _segment_name(name_or_number)
        return self.root + "/" + name_or_number

    def _scan(self):
        numbers = []
        for name in os.listdir(self.root):
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
                try:
                    numbers.append(int(name[len(_PREFIX):-len(_SUFFIX)]))
                except ValueError:
                    continue
        numbers.sort()
        return numbers

    def _seal_torn_tail(self):
        """A power cut mid-write leaves a line without its newline: end it, so it is skipped, not stuck."""
        if not self._segments:
            return
        path = self._path(self._segments[-1])
        size = _file_size(path)
        if size == 0:
            return
        with open(path, "rb") as handle:
            handle.seek(size - 1)
            last = handle.read(1)
        if last != b"\n":
            with open(path, "ab") as handle:
                handle.write(b"\n")

    def _count_lines(self, number):
        count = 0
        with open(self._path(number), "rb") as handle:
            for line in handle:
                if line.endswith(b"\n"):
                    count += 1
        return count

    def _load_line_index(self):
        try:
            with open(self._path(_LINES)) as handle:
                data = json.load(handle)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_line_index(self):
        """Line counts of the closed segments (the open one is counted at boot: it is at most one segment)."""
        closed = {}
        for number in self._segments[:-1]:
            closed[str(number)] = self._lines[number]
        tmp = self._path(_LINES + ".tmp")
        with open(tmp, "w") as handle:
            handle.write(json.dumps(closed))
        os.rename(tmp, self._path(_LINES))

    def _load_cursor(self):
        try:
            with open(self._path(_CURSOR)) as handle:
                data = json.load(handle)
            return (int(data["seg"]), int(data["off"]), int(data.get("line", 0)))
        except (OSError, ValueError, KeyError, TypeError):
            first = self._segments[0] if self._segments else 1
            return (first, 0, 0)

    def _save_cursor(self):
        segment, offset, line = self._cursor
        tmp = self._path(_CURSOR + ".tmp")
        with open(tmp, "w") as handle:
            handle.write(json.dumps({"seg": segment, "off": offset, "line": line}))
        os.rename(tmp, self._path(_CURSOR))

    def _count_queued(self):
        segment, _, line = self._cursor
        total = 0
        for number in self._segments:
            if number > segment:
                total += self._lines[number]
            elif number == segment:
                total += max(0, self._lines[number] - line)
        return total

    # -- writing ------------------------------------------------------------------------------
    def total_bytes(self):
        total = 0
        for number in self._segments:
            total += self._sizes[number]
        return total

    def append(self, record):
        line = (json.dumps(record) + "\n").encode()
        if not self._segments or self._sizes[self._segments[-1]] + len(line) > self.segment_bytes:
            self._start_segment()
        while self.total_bytes() + len(line) > self.cap_bytes and self.drop_oldest():
            pass
        number = self._segments[-1]
        with open(self._path(number), "ab") as handle:
            handle.write(line)
        self._sizes[number] += len(line)
        self._lines[number] += 1
        self.queued += 1

    def _start_segment(self):
        number = self._segments[-1] + 1 if self._segments else max(1, self._cursor[0])
        self._segments.append(number)
        self._sizes[number] = 0
        self._lines[number] = 0
        with open(self._path(number), "wb"):
            pass
        self._save_line_index()

    def drop_oldest(self):
        """Give up the oldest segment to make room (never the one being written); False if there is none."""
        if len(self._segments) < 2:
            return False
        number = self._segments.pop(0)
        segment, _, line = self._cursor
        lost = self._lines[number] - (line if number == segment else 0)
        if number >= segment:
            self.dropped += lost
            self.queued -= lost
        self._forget(number)
        if number >= segment:
            self._cursor = (self._segments[0], 0, 0)
            self._read_pos = self._cursor
            self._save_cursor()
        return True

    def _forget(self, number):
        try:
            os.remove(self._path(number))
        except OSError:
            pass
        del self._sizes[number]
        del self._lines[number]

    # -- draining -----------------------------------------------------------------------------
    def peek(self, limit):
        """Up to `limit` records after the read position, across segments: (records, token) or ([], None).

        The read position moves on, so several batches can be in flight; `commit(token)` in order
        moves the persisted cursor, `rewind()` forgets uncommitted batches after a lost connection.
        """
        segment, offset, line = self._read_pos
        records = []
        consumed = 0
        while len(records) < limit:
            if segment not in self._sizes or offset >= self._sizes[segment]:
                later = [n for n in self._segments if n > segment]
                if not later:
                    break
                segment, offset, line = later[0], 0, 0
                continue
            with open(self._path(segment), "rb") as handle:
                handle.seek(offset)
                while len(records) < limit:
                    raw = handle.readline()
                    if not raw or not raw.endswith(b"\n"):
                        break
                    offset += len(raw)
                    line += 1
                    consumed += 1
                    try:
                        records.append(json.loads(raw))
                    except ValueError:
                        self.corrupt_lines += 1
            if offset < self._sizes[segment] and len(records) < limit:
                break  # a torn last line: wait for the writer
        if consumed == 0:
            return [], None
        self._read_pos = (segment, offset, line)
        return records, (segment, offset, line, consumed)

    def commit(self, token):
        segment, offset, line, consumed = token
        self._cursor = (segment, offset, line)
        self.queued = max(0, self.queued - consumed)
        while self._segments and self._segments[0] < segment:
            self._forget(self._segments.pop(0))
        if segment in self._sizes and offset >= self._sizes[segment] and segment != self._segments[-1]:
            self._segments.remove(segment)
            self._forget(segment)
            self._cursor = (self._segments[0], 0, 0)
        self._save_cursor()

    def rewind(self):
        self._read_pos = self._cursor

    def clear(self):
        deleted = self.queued
        for number in self._segments:
            try:
                os.remove(self._path(number))
            except OSError:
                pass
        self._segments = []
        self._sizes = {}
        self._lines = {}
        self._cursor = (1, 0, 0)
        self._read_pos = self._cursor
        self._save_cursor()
        self.queued = 0
        return deleted

    def file_count(self):
        return len(self._segments)
