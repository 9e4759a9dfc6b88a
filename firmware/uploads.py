"""Accepting a firmware image: the one path from an uploaded file to a stored FirmwareVersion.

The admin form and `POST /api/firmware` both call `upload_firmware`, so an image is validated,
de-duplicated and stored the same way whichever door it came through.
"""

import logging
import os
from collections import Counter

from django.db import IntegrityError, transaction
from django.utils.text import get_valid_filename

from acuvim_console.audit.models import AuditAction
from acuvim_console.audit.recording import record
from firmware import conf
from firmware.images import ImageInfo, InvalidFirmwareImage, RejectionReason, inspect_app_image
from firmware.models import FirmwareVersion
from firmware.versions import parse_version

log = logging.getLogger(__name__)

# Rejections by reason since the process started, for the health page and tests.
rejections: Counter[str] = Counter()

DUPLICATE_VERSION = "duplicate_version"
DUPLICATE_IMAGE = "duplicate_image"
WRONG_CHIP = "wrong_chip"
MAX_FILENAME_LENGTH = 128


class UploadRejected(Exception):
    """The upload cannot become a firmware version; `field` names the form field to blame."""

    def __init__(self, message: str, reason: str, field: str = "file"):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.field = field


def upload_firmware(
    file,
    *,
    version: str = "",
    release_notes: str = "",
    mandatory: bool = False,
    hardware: str = "",
    user=None,
) -> FirmwareVersion:
    """Validate `file` (a Django UploadedFile or File) as an ESP32 app image and store it.

    `version` is what the operator typed, if anything: it must agree with the image, whose own version
    is recorded because it is what the gateway reports after booting it.
    Raises UploadRejected with a message an operator can act on.
    """
    name = getattr(file, "name", "") or "firmware.bin"
    try:
        info = _inspect(file, version.strip())
        _refuse_duplicates(info)
        return _store(file, info, name, release_notes=release_notes, mandatory=mandatory, hardware=hardware, user=user)
    except UploadRejected as rejected:
        rejections[rejected.reason] += 1
        log.warning("firmware upload %r by %s rejected (%s): %s", name, user or "-", rejected.reason, rejected)
        raise


def _inspect(file, expected_version: str) -> ImageInfo:
    max_bytes = conf.max_image_bytes()
    declared = getattr(file, "size", None)
    if declared == 0:
        raise UploadRejected("The file is empty.", RejectionReason.EMPTY)
    if declared is not None and declared > max_bytes:
        raise UploadRejected(
            f"The file is {declared} bytes; firmware images may be at most {max_bytes} bytes.",
            RejectionReason.TOO_LARGE,
        )
    try:
        info = inspect_app_image(file, max_bytes=max_bytes, expected_version=expected_version or None)
    except InvalidFirmwareImage as invalid:
        field = "version" if invalid.reason == RejectionReason.VERSION_MISMATCH else "file"
        raise UploadRejected(_sentence(str(invalid)), invalid.reason, field) from invalid
    if info.chip_name not in conf.allowed_chips():
        raise UploadRejected(
            f"The image is built for {info.chip_name}; the gateways run on {', '.join(conf.allowed_chips())}.",
            WRONG_CHIP,
        )
    return info


def _refuse_duplicates(info: ImageInfo) -> None:
    same_image = FirmwareVersion.objects.filter(sha256=info.sha256).values_list("version", flat=True).first()
    if same_image:
        raise UploadRejected(f"This exact image is already uploaded as version {same_image}.", DUPLICATE_IMAGE)
    existing = _version_equal_to(info.version)
    if existing:
        raise UploadRejected(
            f"Version {existing} is already uploaded (a different image); give the new build a new version.",
            DUPLICATE_VERSION,
        )


def _version_equal_to(version: str) -> str | None:
    """The stored version that means the same release as `version` (1.3 == v1.3.0), if any."""
    wanted = parse_version(version)
    for stored in FirmwareVersion.objects.values_list("version", flat=True):
        try:
            if parse_version(stored) == wanted:
                return stored
        except ValueError:
            continue
    return None


def _store(file, info: ImageInfo, name: str, **fields) -> FirmwareVersion:
    firmware = FirmwareVersion(
        version=info.version,
        filename=_safe_filename(name),
        file_size=info.size,
        sha256=info.sha256,
        project_name=info.project_name[:32],
        chip=info.chip_name,
        idf_version=info.idf_version[:32],
        release_notes=fields["release_notes"] or "",
        hardware=(fields["hardware"] or "").strip(),
        mandatory=bool(fields["mandatory"]),
        uploaded_by=fields["user"] if getattr(fields["user"], "pk", None) else None,
    )
    file.seek(0)
    firmware.file.save(firmware.filename, file, save=False)
    try:
        with transaction.atomic():
            firmware.save()
            record(
                AuditAction.FIRMWARE_UPLOADED,
                f"firmware {firmware.version}",
                user=fields["user"],
                detail={"sha256": firmware.sha256, "size": firmware.file_size, "filename": firmware.filename},
            )
    except IntegrityError as clash:  # a concurrent upload of the same version or image won the race
        firmware.file.delete(save=False)
        message = f"Version {info.version} or this image was uploaded meanwhile."
        raise UploadRejected(message, DUPLICATE_VERSION) from clash
    log.info("firmware %s uploaded (%d bytes, sha256 %s)", firmware.version, firmware.file_size, firmware.sha256)
    return firmware


def _safe_filename(name: str) -> str:
    base = get_valid_filename(os.path.basename(name)) or "firmware.bin"
    stem, ext = os.path.splitext(base)
    return stem[: MAX_FILENAME_LENGTH - len(ext)] + ext


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
