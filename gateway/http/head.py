"""The edge's one reading of a request line and its headers: the RequestHead every phase takes.

The target is split here and nowhere else: an origin-form target (`/path?query`) as sent; an
absolute-form one (`http://host/path`) by its parsed path and query. The path is canonicalized
once (signer's `path_segments`: the same segments the signature check, routing and policy see);
the headers are the parser's case-insensitive multidict as it is (no copy per request).
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
    headers = request.headers
    peer = request.remote or ""
    client = peer
    if trusted_proxies:   # every X-Forwarded-For line, joined in order (RFC 7239 practice: one list)
        client = source_ip(peer, ",".join(headers.getall("X-Forwarded-For", ())), trusted_proxies)
    return RequestHead(request.method, raw_path, raw_query, segments, path_error, headers, client,
                       request_id, request.scheme, request.host)


def split_target(request: web.Request) -> tuple[str, str]:
    """The raw path and raw query exactly as the client sent them (no decoding, no re-encoding)."""
    target = request.raw_path
    if not target.startswith("/"):  # absolute-form request target: fall back to the parsed URL
        return request.rel_url.raw_path, request.rel_url.raw_query_string
    path, _, query = target.partition("?")
    return path, query
