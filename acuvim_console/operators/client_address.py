"""The address of the client behind a request, trusting `X-Forwarded-For` only from configured proxies.

Anyone can send an `X-Forwarded-For` header, so believing it from any peer lets a password guesser pick
a fresh address for every attempt and walk past every throttle. The header is read only when the
connecting peer is in TRUSTED_PROXIES (addresses or networks), and then from the right: each hop a
trusted proxy appended is skipped, and the first address that is not a trusted proxy is the client.
The API's login throttle, django-axes and the audit log all ask this one function.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None


def is_trusted_proxy(address, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(request) -> str | None:
    """The client's IP address as a string; the peer's own address unless it is a trusted proxy."""
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not is_trusted_proxy(peer, networks):
        return str(peer) if peer is not None else None
    client = peer
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _parse(hop)
        if address is None:  # a forged or garbled entry: stop at the last address we could trust
            break
        client = address
        if not is_trusted_proxy(address, networks):
            break
    return str(client)
