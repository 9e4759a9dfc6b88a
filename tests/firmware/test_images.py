import hashlib
import importlib.util
import io
import struct
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.images import (
    IMAGE_HEADER,
    READ_CHUNK_BYTES,
    SEGMENT_HEADER,
    ImageInfo,
    InvalidFirmwareImage,
    RejectionReason,
    inspect_app_image,
    xor_checksum,
)
from tests.support.firmware_images import Corruption, build_app_image

FIRST_SEGMENT_HEADER = IMAGE_HEADER.size


def inspect(data: bytes, **kwargs) -> ImageInfo:
    return inspect_app_image(io.BytesIO(data), **kwargs)


def rejection(data: bytes, **kwargs) -> InvalidFirmwareImage:
    with pytest.raises(InvalidFirmwareImage) as caught:
        inspect(data, **kwargs)
    return caught.value


def with_segment_header(image: bytes, segment_offset: int, load_address: int, length: int) -> bytes:
    patched = bytearray(image)
    SEGMENT_HEADER.pack_into(patched, segment_offset, load_address, length)
    return bytes(patched)


class ReadRecorder(io.BytesIO):
    """A stream that remembers how it was read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.request_sizes: list[int] = []
        self.bytes_returned = 0

    def read(self, size=-1):
        self.request_sizes.append(size)
        chunk = super().read(size)
        self.bytes_returned += len(chunk)
        return chunk


# Happy path


def test_valid_gateway_image_yields_its_descriptor_fields_size_and_sha256():
    image = build_app_image("1.3.0", "acuvim-gateway", idf_version="v5.2.2", payload_size=8192)
    info = inspect(image)
    assert info == ImageInfo(
        version="1.3.0",
        project_name="acuvim-gateway",
        chip_id=0,
        chip_name="ESP32",
        segment_count=3,
        size=len(image),
        sha256=hashlib.sha256(image).hexdigest(),
        idf_version="v5.2.2",
        compile_date="Jan 15 2025",
        compile_time="09:30:00",
    )


@pytest.mark.parametrize(
    ("chip_id", "chip_name"),
    [
        (0, "ESP32"),
        (2, "ESP32-S2"),
        (5, "ESP32-C3"),
        (9, "ESP32-S3"),
        (12, "ESP32-C2"),
        (13, "ESP32-C6"),
        (16, "ESP32-H2"),
    ],
)
def test_images_for_other_espressif_chips_are_accepted_and_named(chip_id, chip_name):
    info = inspect(build_app_image(chip_id=chip_id))
    assert (info.chip_id, info.chip_name) == (chip_id, chip_name)


def test_image_without_appended_hash_is_accepted_on_its_checksum():
    image = build_app_image(hash_appended=False)
    assert inspect(image).sha256 == hashlib.sha256(image).hexdigest()


def test_bytes_after_the_image_count_towards_size_and_sha256():
    image = build_app_image(pad_to=64 * 1024)
    info = inspect(image)
    assert info.size == 64 * 1024
    assert info.sha256 == hashlib.sha256(image).hexdigest()


def test_version_with_v_prefix_and_build_metadata_is_kept_as_written_in_the_image():
    assert inspect(build_app_image("v1.4.0-rc.2+g5114f85")).version == "v1.4.0-rc.2+g5114f85"


def test_full_width_descriptor_strings_without_terminator_are_read_whole():
    version = "1.2.3-" + "a" * 26
    project = "p" * 32
    info = inspect(build_app_image(version, project))
    assert (info.version, info.project_name) == (version, project)


def test_stream_is_read_once_from_its_start_in_bounded_chunks():
    image = build_app_image(payload_size=3 * READ_CHUNK_BYTES + 100)
    stream = ReadRecorder(image)
    stream.seek(0, io.SEEK_END)
    assert inspect_app_image(stream).sha256 == hashlib.sha256(image).hexdigest()
    assert stream.bytes_returned == len(image)
    assert max(stream.request_sizes) <= READ_CHUNK_BYTES
    assert -1 not in stream.request_sizes


def test_image_written_by_esptools_own_writer_is_accepted():
    """An independent writer, with the flash-alignment padding segment real builds contain."""
    bin_image = pytest.importorskip("esptool.bin_image")
    descriptor = build_app_image("2.0.1")[FIRST_SEGMENT_HEADER + SEGMENT_HEADER.size :][:256]
    writer = bin_image.ESP32FirmwareImage()
    writer.entrypoint = 0x40080400
    writer.segments = [
        bin_image.ELFSection(b".flash.appdesc", 0x3F400020, descriptor + bytes(1000), flags=0),
        bin_image.ELFSection(b".dram0.data", 0x3FFB0000, bytes(range(256)) * 2, flags=0),
        bin_image.ELFSection(b".iram0.text", 0x40080000, b"\x11" * 1024, flags=0),
        bin_image.ELFSection(b".flash.text", 0x400D0020, b"\x22" * 70000, flags=0),
    ]
    image = writer.save(None)
    info = inspect(image)
    assert (info.version, info.segment_count, info.size) == ("2.0.1", 5, len(image))


@pytest.mark.skipif(importlib.util.find_spec("esptool") is None, reason="esptool is not installed")
def test_esptool_image_info_reports_built_image_checksum_and_hash_valid(tmp_path):
    path = tmp_path / "acuvim-gateway.bin"
    path.write_bytes(build_app_image("1.3.0", payload_size=20000))
    result = subprocess.run(
        [sys.executable, "-m", "esptool", "--chip", "esp32", "image-info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Chip ID: 0 (ESP32)" in result.stdout
    assert "Checksum:" in result.stdout and "(valid)" in result.stdout.split("Checksum:")[1].splitlines()[0]
    assert "Validation hash:" in result.stdout
    assert result.stdout.split("Validation hash:")[1].splitlines()[0].endswith("(valid)")
    assert "Project name: acuvim-gateway" in result.stdout
    assert "App version: 1.3.0" in result.stdout


# Operator-typed version


def test_typed_version_equal_to_the_image_version_is_accepted_in_any_spelling():
    assert inspect(build_app_image("1.3.0"), expected_version="v1.3").version == "1.3.0"


def test_typed_version_contradicting_the_image_is_rejected():
    error = rejection(build_app_image("1.3.0"), expected_version="1.4.0")
    assert error.reason == RejectionReason.VERSION_MISMATCH
    assert "you entered (1.4.0) does not match the version inside the image (1.3.0)" in str(error)


def test_typed_version_that_is_not_a_version_is_rejected():
    error = rejection(build_app_image("1.3.0"), expected_version="latest")
    assert error.reason == RejectionReason.VERSION_MISMATCH
    assert "not valid" in str(error)


# Size limits


def test_empty_file_is_rejected():
    error = rejection(b"")
    assert (error.reason, str(error)) == (RejectionReason.EMPTY, "file is empty")


def test_file_over_the_given_limit_is_rejected_without_reading_it_all():
    image = build_app_image(payload_size=400_000)
    stream = ReadRecorder(image)
    with pytest.raises(InvalidFirmwareImage) as caught:
        inspect_app_image(stream, max_bytes=128 * 1024)
    assert caught.value.reason == RejectionReason.TOO_LARGE
    assert "131072 bytes" in str(caught.value)
    assert stream.bytes_returned < 128 * 1024


def test_file_exactly_at_the_limit_is_accepted():
    image = build_app_image(pad_to=100_000)
    assert inspect(image, max_bytes=100_000).size == 100_000
    assert rejection(image, max_bytes=99_999).reason == RejectionReason.TOO_LARGE


def test_default_limit_comes_from_the_firmware_max_bytes_setting(settings):
    settings.FIRMWARE_MAX_BYTES = 8192
    error = rejection(build_app_image(payload_size=16384))
    assert error.reason == RejectionReason.TOO_LARGE
    assert "8192 bytes" in str(error)


def test_default_limit_is_four_mebibytes(settings):
    assert settings.FIRMWARE_MAX_BYTES == 4 * 1024 * 1024
    assert "4 MiB" in str(rejection(build_app_image(pad_to=settings.FIRMWARE_MAX_BYTES + 1)))


# Foreign files and header


def test_wrong_first_byte_names_the_byte_found_and_expected():
    error = rejection(b"\x7fhello")
    assert error.reason == RejectionReason.NOT_AN_APP_IMAGE
    assert str(error) == "not an ESP32 app image: first byte is 0x7f, expected 0xe9"


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (build_app_image(corruption=Corruption.NOT_AN_IMAGE), "this is an ELF file"),
        (b"PK\x03\x04" + bytes(100), "zip archive"),
        (b"\xff" * 4096, "erased flash"),
    ],
)
def test_common_wrong_uploads_get_a_hint(data, hint):
    error = rejection(data)
    assert error.reason == RejectionReason.NOT_AN_APP_IMAGE
    assert hint in str(error)


def test_file_shorter_than_the_image_header_is_rejected():
    error = rejection(build_app_image()[:10])
    assert error.reason == RejectionReason.TRUNCATED
    assert "only 10 bytes" in str(error)


@pytest.mark.parametrize("count", [0, 17, 255])
def test_insane_segment_count_is_rejected(count):
    image = bytearray(build_app_image())
    image[1] = count
    error = rejection(bytes(image))
    assert error.reason == RejectionReason.BAD_HEADER
    assert f"declares {count} segments, expected 1 to 16" in str(error)


def test_too_many_segments_corruption_is_rejected():
    assert rejection(build_app_image(corruption=Corruption.TOO_MANY_SEGMENTS)).reason == RejectionReason.BAD_HEADER


def test_unknown_chip_id_is_rejected():
    error = rejection(build_app_image(chip_id=99))
    assert error.reason == RejectionReason.UNKNOWN_CHIP
    assert "chip id 99" in str(error)


def test_hash_appended_flag_other_than_zero_or_one_is_rejected():
    image = bytearray(build_app_image())
    image[IMAGE_HEADER.size - 1] = 7
    error = rejection(bytes(image))
    assert error.reason == RejectionReason.BAD_HEADER
    assert "hash_appended" in str(error)


# Segment table


def test_segment_length_not_multiple_of_four_is_rejected():
    error = rejection(build_app_image(corruption=Corruption.UNALIGNED_SEGMENT))
    assert error.reason == RejectionReason.BAD_SEGMENT
    assert "segment 1 of 3 has length" in str(error)


def test_segment_declaring_more_than_the_file_limit_is_rejected_before_reading_it():
    image = with_segment_header(build_app_image(), FIRST_SEGMENT_HEADER, 0x3F400020, 0xFFFFFFFC)
    stream = ReadRecorder(image)
    with pytest.raises(InvalidFirmwareImage) as caught:
        inspect_app_image(stream)
    assert caught.value.reason == RejectionReason.TOO_LARGE
    assert "segment 1 of 3 declares 4294967292 bytes" in str(caught.value)
    assert stream.bytes_returned == FIRST_SEGMENT_HEADER + SEGMENT_HEADER.size


def test_segment_wrapping_past_the_address_space_is_rejected():
    image = build_app_image()
    length = struct.unpack_from("<I", image, FIRST_SEGMENT_HEADER + 4)[0]
    error = rejection(with_segment_header(image, FIRST_SEGMENT_HEADER, 0xFFFFF000, length))
    assert error.reason == RejectionReason.BAD_SEGMENT
    assert "32-bit address space" in str(error)


def test_segment_running_past_the_end_of_the_file_is_rejected():
    error = rejection(build_app_image(corruption=Corruption.SEGMENT_PAST_END))
    assert error.reason == RejectionReason.TRUNCATED
    assert "in the middle of segment 3 of 3 (load address 0x40080000" in str(error)


def test_truncated_file_is_rejected():
    error = rejection(build_app_image(corruption=Corruption.TRUNCATED))
    assert error.reason == RejectionReason.TRUNCATED
    assert "in the middle of segment 1 of 3" in str(error)


@pytest.mark.parametrize(("cut", "where"), [(-1, "appended SHA-256"), (-33, "checksum")])
def test_file_cut_in_the_footer_is_rejected(cut, where):
    error = rejection(build_app_image()[:cut])
    assert error.reason == RejectionReason.TRUNCATED
    assert where in str(error)


# App descriptor


def test_image_without_app_descriptor_is_rejected_as_bootloader_or_merged_image():
    error = rejection(build_app_image(corruption=Corruption.NO_APP_DESCRIPTOR))
    assert error.reason == RejectionReason.NO_APP_DESCRIPTOR
    assert "found 0x00000000 at offset 0x20, expected 0xabcd5432" in str(error)
    assert "bootloader or a merged flash image" in str(error)


def test_first_segment_too_small_for_a_descriptor_is_rejected():
    bin_image = pytest.importorskip("esptool.bin_image")
    writer = bin_image.ESP32FirmwareImage()
    writer.segments = [bin_image.ELFSection(b".dram0.bss", 0x3FFF0000, bytes(64), flags=0)]
    error = rejection(writer.save(None))
    assert error.reason == RejectionReason.NO_APP_DESCRIPTOR
    assert "too small to hold the 256-byte app descriptor" in str(error)


@pytest.mark.parametrize("version", ["latest", "1", "1.2.3.4"])
def test_image_version_the_console_cannot_compare_is_rejected(version):
    error = rejection(build_app_image(version))
    assert error.reason == RejectionReason.BAD_VERSION
    assert "cannot be compared" in str(error)


@pytest.mark.parametrize(
    ("version", "project", "reason"),
    [
        ("", "acuvim-gateway", RejectionReason.BAD_VERSION),
        ("1.0\x01", "acuvim-gateway", RejectionReason.BAD_VERSION),
        ("1.0.0", "", RejectionReason.BAD_PROJECT_NAME),
        ("1.0.0", "acuvim\x7f", RejectionReason.BAD_PROJECT_NAME),
    ],
)
def test_unreadable_descriptor_text_is_rejected(version, project, reason):
    error = rejection(build_app_image(version, project))
    assert error.reason == reason
    assert "is not readable text" in str(error)


def test_non_ascii_descriptor_text_is_rejected():
    error = rejection(build_app_image("1.0.0", "gateway-\xc3\xa9".encode("latin-1")))
    assert error.reason == RejectionReason.BAD_PROJECT_NAME
    assert "is not readable text" in str(error)


# Integrity


def test_wrong_checksum_byte_is_rejected_with_both_values():
    error = rejection(build_app_image(corruption=Corruption.BAD_CHECKSUM))
    assert error.reason == RejectionReason.BAD_CHECKSUM
    assert "stored 0x" in str(error) and "calculated 0x" in str(error)


def test_flipped_bit_in_segment_data_fails_the_checksum():
    image = bytearray(build_app_image(hash_appended=False))
    image[1000] ^= 0x04
    assert rejection(bytes(image)).reason == RejectionReason.BAD_CHECKSUM


def test_wrong_appended_digest_is_rejected():
    error = rejection(build_app_image(corruption=Corruption.BAD_DIGEST))
    assert error.reason == RejectionReason.BAD_DIGEST
    assert "SHA-256 is wrong" in str(error)


def test_header_change_that_keeps_the_checksum_is_caught_by_the_digest():
    image = bytearray(build_app_image())
    image[2] = 3  # SPI mode: header only, not covered by the checksum
    assert rejection(bytes(image)).reason == RejectionReason.BAD_DIGEST


@given(st.binary(max_size=3000), st.integers(0, 255))
def test_xor_checksum_matches_the_byte_by_byte_definition(data, seed):
    expected = seed
    for byte in data:
        expected ^= byte
    assert xor_checksum(data, seed) == expected
