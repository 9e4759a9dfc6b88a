"""Serving a firmware image over HTTP with byte ranges, so a gateway on GSM can resume a broken download.

The image is streamed from storage in chunks: never read whole into memory, whatever its size or the
storage backend. One range per request is served (what an OTA client asks for); a request for several
ranges gets the whole image, as RFC 9110 allows.
"""

from dataclasses import dataclass

from django.http import FileResponse, HttpResponse, StreamingHttpResponse

from firmware.models import FirmwareVersion

CHUNK_BYTES = 64 * 1024
CONTENT_TYPE = "application/octet-stream"
CHECKSUM_HEADER = "X-Checksum-SHA256"


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """The requested range lies wholly outside the image."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range asked for, or None to send the whole image.

    A header we do not understand (another unit, several ranges, bad syntax) is ignored, which RFC 9110
    permits; a well-formed range that starts beyond the end raises RangeNotSatisfiable.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    end = int(last) if last else size - 1
    return ByteRange(start, min(end, size - 1))


def firmware_response(firmware: FirmwareVersion, range_header: str | None, if_range: str | None) -> HttpResponse:
    """200 with the image, 206 with the requested part of it, or 416 for a range past its end."""
    size = firmware.file_size
    etag = f'"{firmware.sha256}"'
    try:
        byte_range = parse_range(range_header, size) if if_range in (None, etag) else None
    except RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _with_common_headers(response, firmware, etag)
    handle = firmware.file.storage.open(firmware.file.name, "rb")
    if byte_range is None:
        response = FileResponse(handle, content_type=CONTENT_TYPE, as_attachment=True, filename=firmware.filename)
        response["Content-Length"] = str(size)
    else:
        handle.seek(byte_range.start)
        response = StreamingHttpResponse(_read_slice(handle, byte_range.length), status=206, content_type=CONTENT_TYPE)
        response["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
        response["Content-Length"] = str(byte_range.length)
        response["Content-Disposition"] = f'attachment; filename="{firmware.filename}"'
    return _with_common_headers(response, firmware, etag)


def _with_common_headers(response: HttpResponse, firmware: FirmwareVersion, etag: str) -> HttpResponse:
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response[CHECKSUM_HEADER] = firmware.sha256
    response["X-Firmware-Version"] = firmware.version
    response["Cache-Control"] = "private, no-store"
    return response


def _read_slice(handle, length: int):
    """Yield `length` bytes from the handle's position in chunks; close the handle however iteration ends."""
    try:
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()
