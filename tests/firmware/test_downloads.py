"""The download endpoint: who may fetch an image, and byte ranges so a GSM download can resume."""

import hashlib
import time
from urllib.parse import urlsplit

import pytest

from devices.choices import DeviceStatus
from devices.registry.tokens import issue_token
from firmware.download_links import sign_download, signed_download_url
from tests.factories import make_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def firmware(make_firmware):
    return make_firmware("1.3.0", payload_size=200_000)


@pytest.fixture
def image(firmware):
    with firmware.file.open("rb") as handle:
        return handle.read()


@pytest.fixture
def device_token(db):
    device = make_device()
    return device, issue_token(device)


def fetch(api, version="1.3.0", token=None, range_header=None, query=""):
    headers = {}
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Device {token}"
    if range_header:
        headers["HTTP_RANGE"] = range_header
    return api.get(f"/api/firmware/download/{version}{query}", **headers)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_device_token_downloads_the_whole_image_with_length_checksum_and_accept_ranges(api, device_token, image):
    response = fetch(api, token=device_token[1])
    assert response.status_code == 200
    assert body(response) == image
    assert response["Content-Length"] == str(len(image))
    assert response["Accept-Ranges"] == "bytes"
    assert response["X-Checksum-SHA256"] == hashlib.sha256(image).hexdigest()
    assert response["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-15", 0, 15),  # the image header
        ("bytes=70000-70099", 70000, 70099),  # from the middle
        ("bytes=-256", None, None),  # suffix: the last 256 bytes
        ("bytes=150000-", 150000, None),  # resume after a dropped connection
        ("bytes=199990-999999", 199990, None),  # end past the image is clipped
    ],
)
def test_range_requests_return_exactly_the_requested_bytes(api, device_token, image, header, start, end):
    if start is None:
        start = len(image) - 256
    last = len(image) - 1 if end is None else end
    response = fetch(api, token=device_token[1], range_header=header)
    assert response.status_code == 206
    assert body(response) == image[start : last + 1]
    assert response["Content-Range"] == f"bytes {start}-{last}/{len(image)}"
    assert response["Content-Length"] == str(last - start + 1)
    assert response["X-Checksum-SHA256"] == hashlib.sha256(image).hexdigest()


def test_a_download_resumed_in_pieces_reassembles_to_the_image_and_its_checksum(api, device_token, image, firmware):
    received = bytearray()
    while len(received) < len(image):
        response = fetch(api, token=device_token[1], range_header=f"bytes={len(received)}-{len(received) + 65535}")
        assert response.status_code == 206
        received += body(response)
    assert hashlib.sha256(received).hexdigest() == firmware.sha256


def test_range_past_the_end_is_416_with_the_size(api, device_token, image):
    response = fetch(api, token=device_token[1], range_header=f"bytes={len(image)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(image)}"


def test_unparseable_or_multiple_ranges_get_the_whole_image(api, device_token, image):
    for header in ("bytes=a-b", "bytes=0-1,5-9", "items=0-5", "bytes=9-3"):
        response = fetch(api, token=device_token[1], range_header=header)
        assert response.status_code == 200, header
        assert body(response) == image


def test_if_range_with_another_image_checksum_sends_the_whole_new_image(api, device_token, image):
    response = api.get(
        "/api/firmware/download/1.3.0",
        HTTP_AUTHORIZATION=f"Device {device_token[1]}",
        HTTP_RANGE="bytes=100-",
        HTTP_IF_RANGE='"' + "0" * 64 + '"',
    )
    assert response.status_code == 200 and body(response) == image


def test_no_credentials_is_401_with_the_device_scheme(api, firmware):
    response = fetch(api)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Device")


def test_wrong_token_is_401(api, firmware):
    assert fetch(api, token="acvt_not-a-real-token").status_code == 401
    assert fetch(api, token="garbage").status_code == 401


def test_token_of_a_decommissioned_device_is_refused(api, firmware, device_token):
    device, token = device_token
    device.status = DeviceStatus.DECOMMISSIONED
    device.save()
    assert fetch(api, token=token).status_code == 401


def test_operators_may_download_viewers_with_view_permission_too_but_plain_users_not(api, firmware, viewer):
    from tests.factories import make_user

    api.force_authenticate(viewer)
    assert fetch(api).status_code == 200
    api.force_authenticate(make_user())
    assert fetch(api).status_code == 403


def test_unknown_version_is_404_for_an_authenticated_device(api, device_token, firmware):
    assert fetch(api, version="9.9.9", token=device_token[1]).status_code == 404


def test_signed_url_downloads_without_token_but_not_another_version_or_device(api, firmware, make_firmware, image):
    make_firmware("1.4.0")
    device = make_device()
    url = signed_download_url("1.3.0", device.device_id)
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "console.test"
    response = api.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200 and body(response) == image
    sig = sign_download("1.3.0", device.device_id)
    assert fetch(api, version="1.4.0", query=f"?device_id={device.device_id}&sig={sig}").status_code == 403
    other = make_device()
    assert fetch(api, query=f"?device_id={other.device_id}&sig={sig}").status_code == 403
    assert fetch(api, query=f"?device_id={device.device_id}&sig={sig[:-2]}xx").status_code == 403


def test_signed_url_stops_working_when_it_expires(api, firmware, settings):
    settings.FIRMWARE_DOWNLOAD_URL_MAX_AGE_SECONDS = 30  # slack for a slow first request
    device = make_device()
    query = f"?device_id={device.device_id}&sig={sign_download('1.3.0', device.device_id)}"
    assert fetch(api, query=query, range_header="bytes=0-0").status_code == 206
    # The link is now over a second old (its timestamp is floored to the second, so never younger
    # than this sleep); a one-second lifetime has run out, whatever second the link was signed in.
    time.sleep(1.1)
    settings.FIRMWARE_DOWNLOAD_URL_MAX_AGE_SECONDS = 1
    response = fetch(api, query=query)
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


def test_signed_url_for_a_decommissioned_device_is_refused(api, firmware):
    device = make_device(status=DeviceStatus.DECOMMISSIONED)
    query = f"?device_id={device.device_id}&sig={sign_download('1.3.0', device.device_id)}"
    assert fetch(api, query=query).status_code == 403
