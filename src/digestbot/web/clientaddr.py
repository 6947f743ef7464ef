"""The client's address: the direct peer, or what a trusted proxy says it forwarded for.

Forwarded headers are believed only when the direct peer is one of
``DIGESTBOT_HTTP__TRUSTED_PROXIES`` (none by default): anyone else could write any address
there. Through trusted proxies, the client is the right-most address in the chain that is
not itself a trusted proxy (each proxy appends the address it saw).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

from digestbot.settings import IPNetwork

__all__ = ["client_address", "forwarded_chain"]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 192.0.2.1:4711
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def forwarded_chain(request: Request) -> list[str]:
    """The addresses the proxies recorded, first hop first (RFC 7239 ``for=``, else XFF)."""
    forwarded = request.headers.getlist("forwarded")
    if forwarded:
        chain = []
        for header in forwarded:
            for element in header.split(","):
                for pair in element.split(";"):
                    name, _, value = pair.strip().partition("=")
                    if name.lower() == "for":
                        chain.append(value)
        return chain
    return [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
        if part.strip()
    ]


def _trusted(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPNetwork]
) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(request: Request, proxies: Sequence[IPNetwork]) -> str:
    """The address a per-client limit should count this request under."""
    peer = request.client.host if request.client else "unknown"
    peer_ip = _ip(peer)
    if not proxies or peer_ip is None or not _trusted(peer_ip, proxies):
        return peer
    for hop in reversed(forwarded_chain(request)):
        ip = _ip(hop)
        if ip is None:
            return peer  # an unreadable hop ("unknown", an obfuscated id): the proxy is the client
        if not _trusted(ip, proxies):
            return str(ip)
        peer = str(ip)
    return peer
