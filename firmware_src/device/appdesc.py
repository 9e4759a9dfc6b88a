"""ESP32 app image header: the version string the console and the device agree on.

An app image starts with 0xE9; the esp_app_desc_t follows the 0x20-byte image and segment headers,
with magic 0xABCD5432 (little-endian), the version at +0x10 and the project name at +0x30 (32 bytes each,
NUL-terminated).
"""

import struct

IMAGE_MAGIC = 0xE9
DESC_OFFSET = 0x20
DESC_MAGIC = 0xABCD5432
VERSION_OFFSET = 0x10
NAME_OFFSET = 0x30
FIELD_LEN = 32
HEADER_LEN = DESC_OFFSET + NAME_OFFSET + FIELD_LEN
PROJECT_NAME = "acuvim-gateway"  # the ESP-IDF project name of our firmware image (PROJECT_NAME in its build)


class ImageError(ValueError):
    pass


def _text(raw):
    end = raw.find(b"\x00")
    if end >= 0:
        raw = raw[:end]
    return raw.decode()


def parse_header(head):
    """(version, project) from the first HEADER_LEN bytes; ImageError for anything not an ESP32 app."""
    if len(head) < HEADER_LEN or head[0] != IMAGE_MAGIC:
        raise ImageError("not an ESP32 app image (magic byte)")
    if struct.unpack("<I", bytes(head[DESC_OFFSET:DESC_OFFSET + 4]))[0] != DESC_MAGIC:
        raise ImageError("no app descriptor at 0x20")
    start = DESC_OFFSET + VERSION_OFFSET
    version = _text(bytes(head[start:start + FIELD_LEN]))
    start = DESC_OFFSET + NAME_OFFSET
    project = _text(bytes(head[start:start + FIELD_LEN]))
    if not version:
        raise ImageError("empty version in app descriptor")
    return version, project


def build_header(version, project=PROJECT_NAME):
    """A minimal valid header (for tests and the simulator's factory image)."""
    head = bytearray(HEADER_LEN)
    head[0] = IMAGE_MAGIC
    head[DESC_OFFSET:DESC_OFFSET + 4] = struct.pack("<I", DESC_MAGIC)
    raw = version.encode()[:FIELD_LEN - 1]
    head[DESC_OFFSET + VERSION_OFFSET:DESC_OFFSET + VERSION_OFFSET + len(raw)] = raw
    raw = project.encode()[:FIELD_LEN - 1]
    head[DESC_OFFSET + NAME_OFFSET:DESC_OFFSET + NAME_OFFSET + len(raw)] = raw
    return bytes(head)
