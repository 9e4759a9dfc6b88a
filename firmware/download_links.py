"""Signed, expiring firmware download links, bound to one version and one device.

An `ota_update` command carries the link, so a gateway can fetch its image without sending its token
(older firmware, or a proxy that strips headers). The signature covers the version and the device id,
so a link leaked from one device's logs neither fetches another version nor lets another device pose
as this one after the link expires.
"""

from urllib.parse import urlencode

from django.core import signing
from django.urls import reverse

from firmware import conf

SALT = "firmware.download"
_SEPARATOR = "/"  # cannot occur in a device id or a version


class DownloadLinkInvalid(Exception):
    """The `sig` of a download request is wrong, expired or for something else."""


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def _value(version: str, device_id: str) -> str:
    return f"{version}{_SEPARATOR}{device_id}"


def download_path(version: str) -> str:
    return reverse("firmware-download", kwargs={"version": version})


def sign_download(version: str, device_id: str) -> str:
    """The `sig` query parameter: timestamp and signature, without the (already known) value."""
    signed = _signer().sign(_value(version, device_id))
    return signed[len(_value(version, device_id)) + 1 :]


def signed_download_url(version: str, device_id: str) -> str:
    """Absolute URL (CONSOLE_BASE_URL) a gateway can fetch without further credentials until it expires."""
    query = urlencode({"device_id": device_id, "sig": sign_download(version, device_id)})
    return f"{conf.console_base_url()}{download_path(version)}?{query}"


def verify_download(version: str, device_id: str, sig: str) -> None:
    """Raise DownloadLinkInvalid unless `sig` was made for this version and device and has not expired."""
    if not sig or not device_id:
        raise DownloadLinkInvalid("the link has no signature or no device id")
    try:
        _signer().unsign(f"{_value(version, device_id)}:{sig}", max_age=conf.download_url_max_age_seconds())
    except signing.SignatureExpired as expired:
        raise DownloadLinkInvalid("the download link has expired") from expired
    except signing.BadSignature as bad:
        raise DownloadLinkInvalid("the download link is not valid for this version and device") from bad
