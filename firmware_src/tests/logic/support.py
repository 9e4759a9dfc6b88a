"""Fakes shared by the logic tests; MicroPython-compatible like the code under test."""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import os
import time

_counter = [0]


class FakeClock:
    def __init__(self, now=1764000000.0):
        self._now = now
        self._uptime = 0.0

    def now(self):
        return self._now

    def uptime(self):
        return self._uptime

    def set_time(self, ts):
        if ts is not None:
            self._now = ts

    def maintain(self, uptime, online):
        pass

    def advance(self, seconds):
        self._now += seconds
        self._uptime += seconds


def _remove_tree(path):
    for name in os.listdir(path):
        full = path + "/" + name
        if os.stat(full)[0] & 0x4000:
            _remove_tree(full)
        else:
            os.remove(full)
    os.rmdir(path)


class TempDir:
    """mkdtemp for both interpreters (MicroPython has no tempfile)."""

    def __init__(self):
        _counter[0] += 1
        pid = os.getpid() if hasattr(os, "getpid") else 0
        self.path = "/tmp/fwtest-%d-%d-%d" % (pid, int(time.time() * 1000) % 10**9, _counter[0])
        os.mkdir(self.path)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        _remove_tree(self.path)
        return False


class FakeNvs:
    def __init__(self, data=None):
        self.data = data if data is not None else {}

    def get(self, key, default=None):
        value = self.data.get(key)
        return default if value is None else value

    def set(self, key, value):
        self.data[key] = value

    def delete(self, key):
        self.data.pop(key, None)


class FakePartitions:
    """The ESP-IDF slot states in memory, including the bootloader's rollback of an unverified image."""

    def __init__(self, version="1.0.0"):
        self.slots = {"ota_0": {"state": "valid", "version": version, "data": b""}, "ota_1": {"state": "empty"}}
        self.boot_slot = "ota_0"
        self.running = "ota_0"

    def _other(self, slot):
        return "ota_1" if slot == "ota_0" else "ota_0"

    def power_cycle(self):
        """What the bootloader does on reset."""
        chosen = self.boot_slot
        state = self.slots[chosen]["state"]
        if state == "new":
            self.slots[chosen]["state"] = "pending_verify"
        elif state == "pending_verify":
            self.slots[chosen]["state"] = "aborted"
            chosen = self._other(chosen)
        elif state != "valid":
            chosen = self._other(chosen)
        self.boot_slot = chosen
        self.running = chosen

    def running_version(self):
        return self.slots[self.running]["version"]

    def running_state(self):
        return self.slots[self.running]["state"]

    def other_version(self):
        other = self.slots[self._other(self.running)]
        return other.get("version") if other["state"] == "valid" else None

    def open_next(self):
        partitions = self
        slot = self._other(self.running)
        chunks = []

        class Writer:
            def write(self, chunk):
                chunks.append(bytes(chunk))

            def finish(self, version):
                partitions.slots[slot] = {"state": "new", "version": version, "data": b"".join(chunks)}

        return Writer()

    def set_boot_next(self):
        self.boot_slot = self._other(self.running)

    def mark_valid(self):
        self.slots[self.running]["state"] = "valid"

    def rollback(self):
        self.slots[self.running]["state"] = "invalid"
        self.boot_slot = self._other(self.running)

    def boot_other(self):
        self.boot_slot = self._other(self.running)


class FakeDownload:
    def __init__(self, data, path, offset, fail_after=None):
        self.received = offset
        self.total = len(data)
        self.error = None
        self.state = "running"
        self._data = data
        self._path = path
        self._fail_after = fail_after
        self.cancelled = False

    def step(self, nbytes):
        """Deliver the next `nbytes` (or fail at `fail_after`), as the network would."""
        end = min(len(self._data), self.received + nbytes)
        if self._fail_after is not None and end > self._fail_after:
            end = self._fail_after
        with open(self._path, "ab") as handle:
            handle.write(self._data[self.received:end])
        self.received = end
        if self._fail_after is not None and end >= self._fail_after:
            self.state = "failed"
            self.error = "connection reset"
        elif end >= len(self._data):
            self.state = "done"

    def poll(self):
        return self.state

    def cancel(self):
        self.cancelled = True
        self.state = "failed"
        self.error = "cancelled"


class FakeDownloader:
    """Serves one image; remembers each request's headers (to check Range and Authorization)."""

    def __init__(self, data, fail_after=None):
        self.data = data
        self.fail_after = fail_after
        self.requests = []
        self.current = None

    def start(self, url, headers, path, offset):
        self.requests.append((url, dict(headers), offset))
        self.current = FakeDownload(self.data, path, offset, self.fail_after)
        self.fail_after = None
        return self.current


class Recorder:
    """Collects published command responses."""

    def __init__(self):
        self.messages = []

    def __call__(self, message):
        self.messages.append(message)

    def statuses(self, req=None):
        return [m["status"] for m in self.messages if req is None or m["req"] == req]


def raises(exception_class, fn, *args):
    try:
        fn(*args)
    except exception_class as error:
        return error
    raise AssertionError("%s not raised" % exception_class.__name__)
