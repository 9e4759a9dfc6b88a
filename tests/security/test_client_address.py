"""Which address a request comes from: X-Forwarded-For counts only when a trusted proxy sent it."""

import pytest
from django.test import RequestFactory

from acuvim_console.operators.client_address import client_address

factory = RequestFactory()


def address(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(factory.get("/", **extra))


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        ([], "127.0.0.1", "203.0.113.9", "127.0.0.1"),  # no proxies configured: a local client cannot pose
        (["10.0.0.0/8"], "127.0.0.1", "203.0.113.9", "127.0.0.1"),  # a peer that is not the proxy
        (["10.0.0.5"], "10.0.0.5", "203.0.113.9", "203.0.113.9"),
        (["10.0.0.5"], "10.0.0.5", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the client forged the first hop
        (["10.0.0.0/8"], "10.0.0.5", "203.0.113.9, 10.0.0.7", "203.0.113.9"),  # two proxies in a row
        (["10.0.0.5"], "10.0.0.5", "not-an-address", "10.0.0.5"),
        (["10.0.0.5"], "10.0.0.5", "", "10.0.0.5"),
        (["::1"], "::1", "2001:db8::7", "2001:db8::7"),
        ([], "garbage", None, None),
    ],
)
def test_client_address(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = proxies
    assert address(remote, forwarded) == expected
