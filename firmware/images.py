"""ESP32 application image validation and metadata extraction.

An operator uploads a ``.bin`` that the console will push to gateways over the
air. A gateway that receives a broken or foreign image wastes an OTA cycle at
best and bricks itself at worst, so every upload is walked the way the ESP-IDF
bootloader walks it (image header, segment table, checksum, appended SHA-256)
before it is accepted, and the record's version and project name are taken
from the image's own app descriptor instead of being trusted from a form.

Layout (little-endian, as defined by ESP-IDF ``esp_image_format.h`` and
``esp_app_desc.h``)::

    0x00  esp_image_header_t          24 bytes: magic 0xE9, segment count,
                                      SPI mode/size, entry point, chip id,
                                      chip revisions, hash_appended flag
    0x18  esp_image_segment_header_t   8 bytes: load address, data length
    0x20  esp_app_desc_t             256 bytes at the start of segment 1's data:
                                      magic 0xABCD5432, version (+0x10),
                                      project name (+0x30), time, date, IDF version
    ...   further segments, each an 8-byte header followed by its data
    ...   zero padding so that the checksum byte ends a 16-byte block
    ...   checksum: XOR of all segment data bytes, seeded with 0xEF
    ...   SHA-256 of everything before it, when hash_appended is 1

Bytes after that (for example a secure-boot signature block) are accepted;
they are part of the file the gateway writes, so they count towards the size
and the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from firmware import conf
from firmware.versions import parse_version

IMAGE_MAGIC = 0xE9
APP_DESC_MAGIC = 0xABCD5432
CHECKSUM_SEED = 0xEF
MAX_SEGMENTS = 16  # ESP_IMAGE_MAX_SEGMENTS in ESP-IDF
CHECKSUM_ALIGNMENT = 16
DIGEST_SIZE = 32
READ_CHUNK_BYTES = 64 * 1024

# esp_image_header_t: magic, segment_count, spi_mode, spi_speed_size, entry_addr,
# wp_pin, spi_pin_drv[3], chip_id, min_chip_rev, min_chip_rev_full,
# max_chip_rev_full, reserved[4], hash_appended.
IMAGE_HEADER = struct.Struct("<BBBBIB3sHBHH4sB")
# esp_image_segment_header_t: load_addr, data_len.
SEGMENT_HEADER = struct.Struct("<II")
# esp_app_desc_t: magic_word, secure_version, reserv1[2], version[32],
# project_name[32], time[16], date[16], idf_ver[32], app_elf_sha256[32],
# min_efuse_blk_rev_full, max_efuse_blk_rev_full, mmu_page_size, reserv3[3],
# reserv2[18].
APP_DESC = struct.Struct("<II8s32s32s16s16s32s32sHHB3s72s")
APP_DESC_OFFSET = IMAGE_HEADER.size + SEGMENT_HEADER.size

# esp_chip_id_t values; 0xFFFF is ESP_CHIP_ID_INVALID and deliberately absent.
CHIP_NAMES = {
    0: "ESP32",
    2: "ESP32-S2",
    5: "ESP32-C3",
    9: "ESP32-S3",
    12: "ESP32-C2",
    13: "ESP32-C6",
    16: "ESP32-H2",
    18: "ESP32-P4",
    20: "ESP32-C61",
    23: "ESP32-C5",
}


class RejectionReason(StrEnum):
    """Why an image was refused; stable labels for logs and counters."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_AN_APP_IMAGE = "not_an_app_image"
    TRUNCATED = "truncated"
    BAD_HEADER = "bad_header"
    UNKNOWN_CHIP = "unknown_chip"
    BAD_SEGMENT = "bad_segment"
    NO_APP_DESCRIPTOR = "no_app_descriptor"
    BAD_CHECKSUM = "bad_checksum"
    BAD_DIGEST = "bad_digest"
    BAD_VERSION = "bad_version"
    BAD_PROJECT_NAME = "bad_project_name"
    VERSION_MISMATCH = "version_mismatch"


class InvalidFirmwareImage(ValueError):
    """The file is not an app image a gateway can boot; the message says why."""

    def __init__(self, message: str, reason: RejectionReason):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the console records about an accepted image.

    ``version`` is the text exactly as stored in the image, because that is what
    the gateway will report back after booting it.
    """

    version: str
    project_name: str
    chip_id: int
    chip_name: str
    segment_count: int
    size: int
    sha256: str
    idf_version: str
    compile_date: str
    compile_time: str


def xor_checksum(data: bytes, seed: int = CHECKSUM_SEED) -> int:
    """XOR of every byte of ``data`` with ``seed``, the ESP image checksum.

    Folding the bytes as one big integer keeps a multi-megabyte image at
    C speed instead of a Python loop per byte.
    """
    width = 1
    while width < len(data):
        width *= 2
    folded = int.from_bytes(data, "little")
    while width > 1:
        width //= 2
        folded = (folded >> (width * 8)) ^ (folded & ((1 << (width * 8)) - 1))
    return folded ^ seed


def inspect_app_image(
    stream: BinaryIO,
    *,
    max_bytes: int | None = None,
    expected_version: str | None = None,
) -> ImageInfo:
    """Validate the ESP32 app image in ``stream`` and return its metadata.

    The stream is read once, from its start, in chunks, so a multi-megabyte
    upload never sits in memory twice. ``expected_version`` is the version an
    operator typed; if given, it must equal the image's own version.
    Raises :class:`InvalidFirmwareImage` for anything a gateway could not boot.
    """
    if max_bytes is None:
        max_bytes = conf.max_image_bytes()
    if callable(getattr(stream, "seekable", None)) and stream.seekable():
        stream.seek(0)
    reader = _ImageReader(stream, max_bytes)
    header = _read_image_header(reader)
    descriptor = _walk_segments(reader, header)
    _verify_checksum_and_digest(reader, header)
    reader.consume_rest()
    info = _build_info(descriptor, header, reader)
    if expected_version:
        _check_expected_version(expected_version, info.version)
    return info


@dataclass(frozen=True, slots=True)
class _ImageHeader:
    segment_count: int
    chip_id: int
    hash_appended: bool


class _ImageReader:
    """Reads the stream exactly once, keeping the running size, SHA-256 and checksum."""

    def __init__(self, stream: BinaryIO, max_bytes: int):
        self._stream = stream
        self.max_bytes = max_bytes
        self.position = 0
        self.file_hash = hashlib.sha256()
        self.checksum = CHECKSUM_SEED

    def read_up_to(self, size: int) -> bytes:
        """Read ``size`` bytes or fewer at the end of the file."""
        parts = []
        remaining = size
        while remaining:
            chunk = self._stream.read(min(remaining, READ_CHUNK_BYTES))
            if not chunk:
                break
            self._account(chunk)
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def read_exact(self, size: int, what: str) -> bytes:
        data = self.read_up_to(size)
        if len(data) < size:
            raise InvalidFirmwareImage(
                f"image is truncated: the file ends after {self.position} bytes, in the middle of {what}",
                RejectionReason.TRUNCATED,
            )
        return data

    def read_segment_data(self, size: int, what: str) -> None:
        """Consume segment data in chunks, folding it into the checksum."""
        remaining = size
        while remaining:
            chunk = self.read_exact(min(remaining, READ_CHUNK_BYTES), what)
            self.add_to_checksum(chunk)
            remaining -= len(chunk)

    def add_to_checksum(self, data: bytes) -> None:
        self.checksum = xor_checksum(data, self.checksum)

    def consume_rest(self) -> None:
        while self.read_up_to(READ_CHUNK_BYTES):
            pass

    def _account(self, chunk: bytes) -> None:
        self.position += len(chunk)
        if self.position > self.max_bytes:
            raise InvalidFirmwareImage(
                f"file is larger than the {_describe_size(self.max_bytes)} limit for firmware images",
                RejectionReason.TOO_LARGE,
            )
        self.file_hash.update(chunk)


def _read_image_header(reader: _ImageReader) -> _ImageHeader:
    raw = reader.read_up_to(IMAGE_HEADER.size)
    if not raw:
        raise InvalidFirmwareImage("file is empty", RejectionReason.EMPTY)
    if raw[0] != IMAGE_MAGIC:
        raise InvalidFirmwareImage(_describe_foreign_file(raw), RejectionReason.NOT_AN_APP_IMAGE)
    if len(raw) < IMAGE_HEADER.size:
        raise InvalidFirmwareImage(
            f"image is truncated: the file is only {len(raw)} bytes, "
            f"shorter than the {IMAGE_HEADER.size}-byte image header",
            RejectionReason.TRUNCATED,
        )
    fields = IMAGE_HEADER.unpack(raw)
    segment_count, chip_id, hash_appended = fields[1], fields[7], fields[-1]
    if not 1 <= segment_count <= MAX_SEGMENTS:
        raise InvalidFirmwareImage(
            f"image header declares {segment_count} segments, expected 1 to {MAX_SEGMENTS}",
            RejectionReason.BAD_HEADER,
        )
    if chip_id not in CHIP_NAMES:
        raise InvalidFirmwareImage(
            f"image is built for an unknown chip (chip id {chip_id}); the gateway is an ESP32 (chip id 0)",
            RejectionReason.UNKNOWN_CHIP,
        )
    if hash_appended not in (0, 1):
        raise InvalidFirmwareImage(
            f"image header hash_appended flag is {hash_appended:#04x}, expected 0 or 1",
            RejectionReason.BAD_HEADER,
        )
    return _ImageHeader(segment_count, chip_id, bool(hash_appended))


def _walk_segments(reader: _ImageReader, header: _ImageHeader) -> bytes:
    """Walk every segment, returning the app descriptor found in the first one."""
    descriptor = b""
    for index in range(1, header.segment_count + 1):
        name = f"segment {index} of {header.segment_count}"
        load_address, length = SEGMENT_HEADER.unpack(reader.read_exact(SEGMENT_HEADER.size, f"the header of {name}"))
        _check_segment_header(name, load_address, length, reader)
        name = f"{name} (load address {load_address:#010x}, {length} bytes)"
        if index == 1:
            descriptor = _read_app_descriptor(reader, name, length)
            length -= APP_DESC.size
        reader.read_segment_data(length, name)
    return descriptor


def _check_segment_header(name: str, load_address: int, length: int, reader: _ImageReader) -> None:
    if length % 4:
        raise InvalidFirmwareImage(
            f"{name} has length {length}, which is not a multiple of 4: the segment table is corrupt",
            RejectionReason.BAD_SEGMENT,
        )
    if reader.position + length > reader.max_bytes:
        raise InvalidFirmwareImage(
            f"{name} declares {length} bytes, which puts the image over the "
            f"{_describe_size(reader.max_bytes)} limit for firmware images "
            "(or the segment table is corrupt)",
            RejectionReason.TOO_LARGE,
        )
    if load_address + length > 1 << 32:
        raise InvalidFirmwareImage(
            f"{name} at load address {load_address:#010x} with {length} bytes "
            "runs past the end of the 32-bit address space",
            RejectionReason.BAD_SEGMENT,
        )


def _read_app_descriptor(reader: _ImageReader, name: str, length: int) -> bytes:
    if length < APP_DESC.size:
        raise InvalidFirmwareImage(
            f"{name} is too small to hold the {APP_DESC.size}-byte app descriptor; this is not an application image",
            RejectionReason.NO_APP_DESCRIPTOR,
        )
    descriptor = reader.read_exact(APP_DESC.size, f"the app descriptor in {name}")
    reader.add_to_checksum(descriptor)
    (magic,) = struct.unpack_from("<I", descriptor)
    if magic != APP_DESC_MAGIC:
        raise InvalidFirmwareImage(
            f"no app descriptor: found {magic:#010x} at offset {APP_DESC_OFFSET:#x}, "
            f"expected {APP_DESC_MAGIC:#010x}. This looks like a bootloader or a merged "
            "flash image; upload the application .bin produced by the build",
            RejectionReason.NO_APP_DESCRIPTOR,
        )
    return descriptor


def _verify_checksum_and_digest(reader: _ImageReader, header: _ImageHeader) -> None:
    padding = CHECKSUM_ALIGNMENT - 1 - reader.position % CHECKSUM_ALIGNMENT
    stored_checksum = reader.read_exact(padding + 1, "the checksum after the last segment")[-1]
    if stored_checksum != reader.checksum:
        raise InvalidFirmwareImage(
            f"image checksum is wrong: stored {stored_checksum:#04x}, calculated "
            f"{reader.checksum:#04x}; the file was damaged in transfer",
            RejectionReason.BAD_CHECKSUM,
        )
    if not header.hash_appended:
        return
    calculated = reader.file_hash.copy().digest()
    stored = reader.read_exact(DIGEST_SIZE, "the appended SHA-256 digest")
    if stored != calculated:
        raise InvalidFirmwareImage(
            f"image SHA-256 is wrong: stored {stored.hex()}, calculated {calculated.hex()}; "
            "the file was damaged in transfer",
            RejectionReason.BAD_DIGEST,
        )


def _build_info(descriptor: bytes, header: _ImageHeader, reader: _ImageReader) -> ImageInfo:
    fields = APP_DESC.unpack(descriptor)
    version = _descriptor_text(fields[3], "version", RejectionReason.BAD_VERSION)
    project_name = _descriptor_text(fields[4], "project name", RejectionReason.BAD_PROJECT_NAME)
    try:
        parse_version(version)
    except ValueError as error:
        raise InvalidFirmwareImage(
            f"the version inside the image cannot be compared with other versions: {error}",
            RejectionReason.BAD_VERSION,
        ) from error
    return ImageInfo(
        version=version,
        project_name=project_name,
        chip_id=header.chip_id,
        chip_name=CHIP_NAMES[header.chip_id],
        segment_count=header.segment_count,
        size=reader.position,
        sha256=reader.file_hash.hexdigest(),
        idf_version=_informational_text(fields[7]),
        compile_date=_informational_text(fields[6]),
        compile_time=_informational_text(fields[5]),
    )


def _check_expected_version(expected: str, actual: str) -> None:
    try:
        matches = parse_version(expected) == parse_version(actual)
    except ValueError as error:
        raise InvalidFirmwareImage(
            f"the version you entered is not valid: {error}", RejectionReason.VERSION_MISMATCH
        ) from error
    if not matches:
        raise InvalidFirmwareImage(
            f"the version you entered ({expected}) does not match the version inside the image "
            f"({actual}); leave the field empty to use the image's version",
            RejectionReason.VERSION_MISMATCH,
        )


def _descriptor_text(field: bytes, label: str, reason: RejectionReason) -> str:
    raw = field.split(b"\0", 1)[0]
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if not text or not text.isprintable():
        raise InvalidFirmwareImage(f"the app descriptor's {label} field is not readable text: {raw!r}", reason)
    return text


def _informational_text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("ascii", errors="replace")


def _describe_foreign_file(start: bytes) -> str:
    """Explain a wrong first byte, naming the usual mistakes when recognisable."""
    message = f"not an ESP32 app image: first byte is {start[0]:#04x}, expected {IMAGE_MAGIC:#04x}"
    if start.startswith(b"\x7fELF"):
        return message + " (this is an ELF file; upload the .bin produced next to it)"
    if start.startswith(b"PK"):
        return message + " (this is a zip archive; extract the .bin first)"
    if start[0] == 0xFF:
        return message + " (the file starts with erased flash; is this a flash dump at the wrong offset?)"
    return message


def _describe_size(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB ({size} bytes)"
    return f"{size} bytes"
