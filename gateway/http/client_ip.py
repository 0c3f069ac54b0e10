"""The source IP of a request: the peer, or X-Forwarded-For when the peer is a trusted proxy.

RFC 7239 practice (section 5.2 and the same rule for X-Forwarded-For): every X-Forwarded-For
line is one list, joined in order, each proxy appending to its end; walking it from the right,
the first address that is not one of our trusted proxies is the client. What comes before that
address was written by the client itself and is never believed, however many lines it sent.
"""
from __future__ import annotations

import ipaddress
from typing import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def source_ip(peer: str, forwarded: str, trusted_proxies: Sequence[Network]) -> str:
    """`peer`: the connection's address; `forwarded`: every X-Forwarded-For line, joined."""
    if not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return peer
    # Walk from the nearest hop back; the first address not ours is the client.
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _valid_ip(hop):
            return peer
        if not _is_trusted(hop, trusted_proxies):
            return hop
    return peer


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)
