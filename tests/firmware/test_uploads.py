import hashlib
from pathlib import Path

import pytest
from django.core.files.storage import StorageHandler
from django.core.files.uploadedfile import SimpleUploadedFile

from firmware.models import FirmwareVersion
from firmware.storage import STORAGE_ALIAS
from firmware.uploads import UploadRejected, rejections, upload_firmware
from tests.firmware.conftest import image_file
from tests.support.firmware_images import Corruption, build_app_image

pytestmark = pytest.mark.django_db


def rejected(file, **kwargs) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        upload_firmware(file, **kwargs)
    assert not FirmwareVersion.objects.filter(sha256__startswith="x").exists()
    return caught.value


def test_upload_records_the_image_own_version_project_and_checksum_and_stores_the_bytes(firmware_dir):
    data = build_app_image("1.4.0", "acuvim-gateway", payload_size=20000)
    firmware = upload_firmware(
        SimpleUploadedFile("gw.bin", data), release_notes="Faster GSM", mandatory=True, hardware="TTGO T-Call v1.4"
    )
    firmware.refresh_from_db()
    assert (firmware.version, firmware.project_name, firmware.chip) == ("1.4.0", "acuvim-gateway", "ESP32")
    assert firmware.file_size == len(data)
    assert firmware.sha256 == hashlib.sha256(data).hexdigest()
    assert (firmware.release_notes, firmware.mandatory, firmware.hardware) == ("Faster GSM", True, "TTGO T-Call v1.4")
    stored = firmware_dir / firmware.file.name
    assert stored.read_bytes() == data
    assert firmware.file.name == "1.4.0/gw.bin"


def test_typed_version_equal_to_the_image_is_accepted_in_another_spelling():
    firmware = upload_firmware(image_file("1.4.0"), version="v1.4.0")
    assert firmware.version == "1.4.0"


def test_typed_version_contradicting_the_image_is_refused_on_the_version_field():
    error = rejected(image_file("1.4.0"), version="1.5.0")
    assert error.field == "version"
    assert "1.5.0" in error.message and "1.4.0" in error.message
    assert FirmwareVersion.objects.count() == 0


def test_same_image_twice_is_refused_naming_the_existing_version():
    upload_firmware(image_file("1.4.0"))
    before = rejections["duplicate_image"]
    error = rejected(image_file("1.4.0"))
    assert error.reason == "duplicate_image" and "1.4.0" in error.message
    assert rejections["duplicate_image"] == before + 1


def test_same_version_with_different_bytes_is_refused():
    upload_firmware(image_file("1.4.0"))
    error = rejected(image_file("v1.4", payload_size=9000))
    assert error.reason == "duplicate_version"
    assert FirmwareVersion.objects.count() == 1


def test_empty_file_is_refused():
    error = rejected(SimpleUploadedFile("empty.bin", b""))
    assert error.reason == "empty" and "empty" in error.message.lower()


def test_oversize_file_is_refused_before_it_is_parsed(settings):
    settings.FIRMWARE_MAX_BYTES = 8192
    error = rejected(image_file("1.4.0", payload_size=16384))
    assert error.reason == "too_large" and "8192" in error.message


def test_files_that_are_not_app_images_are_refused_with_the_parser_reason():
    assert rejected(SimpleUploadedFile("x.elf", build_app_image(corruption=Corruption.NOT_AN_IMAGE))).reason == (
        "not_an_app_image"
    )
    assert rejected(SimpleUploadedFile("x.bin", build_app_image(corruption=Corruption.BAD_CHECKSUM))).reason == (
        "bad_checksum"
    )
    assert rejected(SimpleUploadedFile("notes.txt", b"release notes, not firmware")).field == "file"
    assert FirmwareVersion.objects.count() == 0


def test_image_for_another_chip_is_refused():
    error = rejected(SimpleUploadedFile("s3.bin", build_app_image("1.4.0", chip_id=9)))
    assert error.reason == "wrong_chip" and "ESP32-S3" in error.message


def test_firmware_storage_alias_is_private_and_outside_static_and_media():
    from acuvim_console import settings as project

    storage = StorageHandler(project.STORAGES)[STORAGE_ALIAS]  # the project's own configuration
    location = Path(storage.location).resolve()
    assert location == (project.DATA_DIR / "firmware").resolve()
    public_dirs = [project.STATIC_ROOT, project.MEDIA_ROOT, *project.STATICFILES_DIRS]
    for public in (Path(directory).resolve() for directory in public_dirs):
        assert public not in location.parents and location != public


def test_s3_configuration_resolves_to_the_django_storages_backend(settings):
    from storages.backends.s3 import S3Storage

    settings.STORAGES = {
        **settings.STORAGES,
        STORAGE_ALIAS: {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "fw", "endpoint_url": "http://127.0.0.1:9", "default_acl": "private"},
        },
    }
    assert isinstance(FirmwareVersion._meta.get_field("file").storage, S3Storage)
