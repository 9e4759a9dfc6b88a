"""Stand-in for MicroPython's `machine` on the ESP32, for the board-path tests (MicroPython unix port).

Only what the hardware would do: pins remember their levels, UARTs talk to a scripted peer, the SD card
is a RAM block device holding a real FAT filesystem, the watchdog measures the gaps between its feeds
and `reset()` raises `Reset`, which the scenario catches as a reboot. `state` is what a scenario sets
before it builds the HAL and reads afterwards.
"""


import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

state = {"reset_cause": PWRON_RESET, "rtc_memory": b"", "rtc_set": [], "pins": {}, "uart_peers": {},
         "sd": None, "wdt": None, "i2c_writes": []}


class Reset(Exception):
    """machine.reset() was called: the scenario boots the next app from here."""


def reset():
    raise Reset()


def reset_cause():
    return state["reset_cause"]


class Pin:
    IN = 0
    OUT = 1

    def __init__(self, number, mode=-1, value=None):
        self.number = number
        if value is not None:
            self.value(value)

    def value(self, level=None):
        history = state["pins"].setdefault(self.number, [])
        if level is None:
            return history[-1] if history else 0
        history.append(level)
        return None


class UART:
    """Bytes go to and come from the peer registered for this UART id (silence when there is none)."""

    def __init__(self, number, baudrate=115200, tx=None, rx=None, **kwargs):
        self.number = number
        self.pins = (tx, rx)
        self.peer = state["uart_peers"].get(number)

    def init(self, baudrate, bits=8, parity=None, stop=1):
        self.settings = (baudrate, bits, parity, stop)

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.peer is not None:
            self.peer.receive(bytes(data))
        return len(data)

    def any(self):
        return self.peer.pending() if self.peer is not None else 0

    def read(self, nbytes=None):
        if self.peer is None:
            return None
        return self.peer.send(nbytes)

    def flush(self):
        pass


class WDT:
    """Counts feeds and the longest stretch without one (armed counts as a feed)."""

    def __init__(self, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        self.longest_gap_ms = 0
        self._last = time.ticks_ms()
        state["wdt"] = self

    def feed(self):
        now = time.ticks_ms()
        self.longest_gap_ms = max(self.longest_gap_ms, time.ticks_diff(now, self._last))
        self._last = now
        self.feeds += 1


class RTC:
    def datetime(self, value=None):
        if value is not None:
            state["rtc_set"].append(value)
        return time.gmtime()

    def memory(self, data=None):
        if data is None:
            return state["rtc_memory"]
        state["rtc_memory"] = bytes(data)
        return None


class I2C:
    def __init__(self, number, scl=None, sda=None, freq=400000):
        self.number = number

    def writeto_mem(self, address, register, data):
        state["i2c_writes"].append((address, register, bytes(data)))


class RamBlockDevice:
    """An SD card of `blocks` x 512 bytes in RAM, formatted FAT, so a full card gives a real ENOSPC;
    `failing` set, every write is an I/O error (EIO), as from a card that is worn out or pulled."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.data = bytearray(blocks * 512)
        self.failing = False

    def readblocks(self, number, buf, offset=0):
        start = number * 512 + offset
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, number, buf, offset=0):
        if self.failing:
            raise OSError(5)
        start = number * 512 + offset
        self.data[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return 512
        return 0


def SDCard(slot=1, sck=None, mosi=None, miso=None, cs=None):
    if state["sd"] is None:
        raise OSError(19)  # ENODEV: no card in the slot
    return state["sd"]
