"""The edge's one reading of a request line and its headers: the RequestHead every phase takes.

The target is split here and nowhere else: an origin-form target (`/path?query`) as sent; an
absolute-form one (`http://host/path`) by its parsed path and query. The path is canonicalized
once (signer's `path_segments`: the same segments the signature check, routing and policy see)
and the header names lowercased once.
"""
from __future__ import annotations

from typing import Sequence

from aiohttp import web

from signer import PathError, path_segments

from ..request import RequestHead
from .client_ip import Network, source_ip


def request_head(request: web.Request, request_id: str, trusted_proxies: Sequence[Network]) -> RequestHead:
    raw_path, raw_query = split_target(request)
    try:
        segments: tuple[str, ...] | None = path_segments(raw_path)
        path_error = None
    except PathError as err:
        segments, path_error = None, str(err)
    lines = tuple(request.headers.items())
    headers = {name.lower(): value for name, value in lines}
    repeated = len(headers) != len(lines)
    peer = request.remote or ""
    client = peer
    if trusted_proxies:
        forwarded = _forwarded_for(lines) if repeated else headers.get("x-forwarded-for", "")
        client = source_ip(peer, forwarded, trusted_proxies)
    host = headers.get("host")
    return RequestHead(request.method, raw_path, raw_query, segments, path_error, headers, lines,
                       repeated, client, request_id, request.scheme, request.host if host is None else host)


def _forwarded_for(lines: tuple[tuple[str, str], ...]) -> str:
    """Every X-Forwarded-For line, joined in order (RFC 7239 practice: one list)."""
    return ",".join([value for name, value in lines if name.lower() == "x-forwarded-for"])


def split_target(request: web.Request) -> tuple[str, str]:
    """The raw path and raw query exactly as the client sent them (no decoding, no re-encoding)."""
    target = request.raw_path
    if not target.startswith("/"):  # absolute-form request target: fall back to the parsed URL
        return request.rel_url.raw_path, request.rel_url.raw_query_string
    path, _, query = target.partition("?")
    return path, query
