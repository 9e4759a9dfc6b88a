"""Build genuine ESP32 app images in memory, for tests and the fleet simulator.

Real build outputs are megabytes of someone else's code; what the console and
the simulated gateways need is an image with a chosen version and project name
that ESP-IDF tooling accepts (``esptool image-info`` reports its checksum and
hash as valid), plus images broken in one specific way to exercise each
rejection. The layout constants come from :mod:`firmware.images`, so the
builder and the validator cannot drift apart silently.

The image has three segments, ordered as an ESP-IDF build orders them: flash
read-only data starting with the app descriptor followed by ``payload_size``
bytes of pseudo-random "code", then a small DRAM and a small IRAM segment.
Payload bytes derive from the version, project and chip, so different builds
get different SHA-256 digests and the same build is reproducible.
"""

from __future__ import annotations

import hashlib
import random
import struct
from enum import StrEnum

from firmware.images import (
    APP_DESC,
    APP_DESC_MAGIC,
    CHECKSUM_ALIGNMENT,
    IMAGE_HEADER,
    IMAGE_MAGIC,
    SEGMENT_HEADER,
    xor_checksum,
)

ESP32_CHIP_ID = 0
GATEWAY_PROJECT = "acuvim-gateway"

# Load addresses (flash rodata, DRAM, IRAM) inside each chip's memory map, so
# esptool labels the segments as DROM/DRAM/IRAM. Other chip ids use the ESP32
# layout: the validator does not check addresses per chip.
_SEGMENT_ADDRESSES = {
    0: (0x3F400020, 0x3FFB0000, 0x40080000),  # ESP32
    2: (0x3F000020, 0x3FFB0000, 0x40024000),  # ESP32-S2
    5: (0x3C000020, 0x3FC8A000, 0x40380000),  # ESP32-C3
    9: (0x3C000020, 0x3FC90000, 0x40374000),  # ESP32-S3
    12: (0x3C000020, 0x3FCA0000, 0x40380000),  # ESP32-C2
    13: (0x42800020, 0x40800000, 0x40810000),  # ESP32-C6
    16: (0x42800020, 0x40800000, 0x40810000),  # ESP32-H2
}
_DRAM_BYTES = 512
_IRAM_BYTES = 1024
_SPI_MODE_DIO = 2
_FLASH_4MB_40MHZ = 0x20
_WP_PIN_DISABLED = 0xEE
_MAX_CHIP_REVISION = 399  # v3.99: any revision of the chip may boot it


class Corruption(StrEnum):
    """One specific defect to build into an otherwise valid image."""

    NOT_AN_IMAGE = "not_an_image"  # starts like an ELF file: the .elf uploaded by mistake
    TOO_MANY_SEGMENTS = "too_many_segments"  # header declares 17 segments
    UNALIGNED_SEGMENT = "unaligned_segment"  # first segment length not a multiple of 4
    SEGMENT_PAST_END = "segment_past_end"  # last segment declares more data than the file holds
    NO_APP_DESCRIPTOR = "no_app_descriptor"  # descriptor magic zeroed; checksum and hash still valid
    BAD_CHECKSUM = "bad_checksum"  # stored checksum byte wrong; appended hash still valid
    BAD_DIGEST = "bad_digest"  # appended SHA-256 wrong (needs hash_appended)
    TRUNCATED = "truncated"  # file cut off in the middle of the first segment


def build_app_image(
    version: str | bytes = "1.3.0",
    project: str | bytes = GATEWAY_PROJECT,
    *,
    chip_id: int = ESP32_CHIP_ID,
    payload_size: int = 4096,
    hash_appended: bool = True,
    pad_to: int | None = None,
    idf_version: str = "v5.2.2",
    compile_date: str = "Jan 15 2025",
    compile_time: str = "09:30:00",
    corruption: Corruption | None = None,
) -> bytes:
    """Return the bytes of an ESP32 app image.

    ``version`` and ``project`` may be bytes, to embed text that is not ASCII.
    ``payload_size`` is rounded up to a multiple of 4 (segment lengths must be).
    ``pad_to`` appends 0xFF, as erased flash reads, until the file has that many
    bytes, which is how an app partition dumped from a device looks.
    """
    if corruption is Corruption.BAD_DIGEST and not hash_appended:
        raise ValueError("Corruption.BAD_DIGEST needs hash_appended=True")
    rng = random.Random(f"{project!r}/{version!r}/{chip_id}/{payload_size}")
    drom_address, dram_address, iram_address = _SEGMENT_ADDRESSES.get(chip_id, _SEGMENT_ADDRESSES[ESP32_CHIP_ID])
    payload = rng.randbytes(-(-payload_size // 4) * 4)
    descriptor = _app_descriptor(
        APP_DESC_MAGIC if corruption is not Corruption.NO_APP_DESCRIPTOR else 0,
        version=version,
        project=project,
        idf_version=idf_version,
        compile_date=compile_date,
        compile_time=compile_time,
        elf_sha256=hashlib.sha256(payload).digest(),
    )
    segments = [
        (drom_address, descriptor + payload),
        (dram_address, rng.randbytes(_DRAM_BYTES)),
        (iram_address, rng.randbytes(_IRAM_BYTES)),
    ]
    image = bytearray(_image_header(len(segments), chip_id, iram_address + 0x400, hash_appended))
    for address, data in segments:
        image += SEGMENT_HEADER.pack(address, len(data)) + data
    checksum = xor_checksum(b"".join(data for _, data in segments))
    if corruption is Corruption.BAD_CHECKSUM:
        checksum ^= 0xFF
    image += bytes(CHECKSUM_ALIGNMENT - 1 - len(image) % CHECKSUM_ALIGNMENT)
    image.append(checksum)
    if hash_appended:
        image += hashlib.sha256(image).digest()
    _apply_structural_corruption(image, corruption, segments)
    if pad_to is not None:
        if pad_to < len(image):
            raise ValueError(f"pad_to={pad_to} is smaller than the {len(image)}-byte image")
        image += b"\xff" * (pad_to - len(image))
    return bytes(image)


def _image_header(segment_count: int, chip_id: int, entry_address: int, hash_appended: bool) -> bytes:
    return IMAGE_HEADER.pack(
        IMAGE_MAGIC,
        segment_count,
        _SPI_MODE_DIO,
        _FLASH_4MB_40MHZ,
        entry_address,
        _WP_PIN_DISABLED,
        bytes(3),
        chip_id,
        0,
        0,
        _MAX_CHIP_REVISION,
        bytes(4),
        int(hash_appended),
    )


def _app_descriptor(magic: int, *, version, project, idf_version, compile_date, compile_time, elf_sha256) -> bytes:
    texts = {
        "version": (version, 32),
        "project": (project, 32),
        "compile_time": (compile_time, 16),
        "compile_date": (compile_date, 16),
        "idf_version": (idf_version, 32),
    }
    encoded = {}
    for name, (text, width) in texts.items():
        raw = text if isinstance(text, bytes) else text.encode("ascii")
        if len(raw) > width:
            raise ValueError(f"{name} {text!r} does not fit the descriptor's {width}-byte field")
        encoded[name] = raw
    return APP_DESC.pack(
        magic,
        0,  # secure_version
        bytes(8),
        encoded["version"],
        encoded["project"],
        encoded["compile_time"],
        encoded["compile_date"],
        encoded["idf_version"],
        elf_sha256,
        0,  # min_efuse_blk_rev_full
        99,  # max_efuse_blk_rev_full: v0.99
        0,  # mmu_page_size: 0 means the chip's fixed 64 KB page
        bytes(3),
        bytes(72),
    )


def _apply_structural_corruption(
    image: bytearray, corruption: Corruption | None, segments: list[tuple[int, bytes]]
) -> None:
    """Damage a sealed image in place; checksum and hash are left as they were."""
    first_segment_header = IMAGE_HEADER.size
    if corruption is Corruption.NOT_AN_IMAGE:
        image[:4] = b"\x7fELF"
    elif corruption is Corruption.TOO_MANY_SEGMENTS:
        image[1] = 17
    elif corruption is Corruption.UNALIGNED_SEGMENT:
        _patch_segment_length(image, first_segment_header, len(segments[0][1]) + 2)
    elif corruption is Corruption.SEGMENT_PAST_END:
        last_header = _end_of_segments(segments) - SEGMENT_HEADER.size - len(segments[-1][1])
        _patch_segment_length(image, last_header, len(segments[-1][1]) + 0x10000)
    elif corruption is Corruption.BAD_DIGEST:
        image[-1] ^= 0xFF
    elif corruption is Corruption.TRUNCATED:
        del image[first_segment_header + SEGMENT_HEADER.size + len(segments[0][1]) // 2 :]


def _end_of_segments(segments: list[tuple[int, bytes]]) -> int:
    return IMAGE_HEADER.size + sum(SEGMENT_HEADER.size + len(data) for _, data in segments)


def _patch_segment_length(image: bytearray, header_offset: int, length: int) -> None:
    struct.pack_into("<I", image, header_offset + 4, length)
