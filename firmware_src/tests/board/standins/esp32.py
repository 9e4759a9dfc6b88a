"""Stand-in for MicroPython's `esp32`: two OTA app slots in RAM, the running one holding an app image
whose descriptor names the factory version. A block listed in `state["bad_blocks"]` is a worn flash
sector: what is written there reads back with one bit flipped."""

from firmware_src.device import appdesc

BLOCK = 4096
state = {"slots": {}, "running": "ota_0", "boot": "ota_0", "valid_marks": 0, "bad_blocks": []}


def _factory(version="1.0.0"):
    return bytearray(appdesc.build_header(version) + b"\xff" * (BLOCK - appdesc.HEADER_LEN))


class Partition:
    RUNNING = 1
    BOOT = 0

    def __init__(self, which):
        self.label = state["running"] if which == Partition.RUNNING else which
        if self.label not in state["slots"]:
            state["slots"][self.label] = _factory() if self.label == "ota_0" else bytearray(BLOCK)

    def readblocks(self, number, buf):
        data = state["slots"][self.label]
        start = number * BLOCK
        chunk = data[start:start + len(buf)]
        buf[:len(chunk)] = chunk

    def writeblocks(self, number, buf):
        data = state["slots"][self.label]
        end = (number + 1) * BLOCK
        if len(data) < end:
            data.extend(b"\xff" * (end - len(data)))
        data[number * BLOCK:end] = buf
        if number in state["bad_blocks"]:
            data[number * BLOCK] ^= 0x01

    def get_next_update(self):
        return Partition("ota_1" if self.label == "ota_0" else "ota_0")

    def set_boot(self):
        state["boot"] = self.label

    @staticmethod
    def mark_app_valid_cancel_rollback():
        state["valid_marks"] += 1
