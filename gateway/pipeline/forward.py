"""The proxy phase: the client's request as the OutgoingRequest DDM gets, sent by the proxy.

The proxy (proxy/client.py) only talks upstream and never sees the aiohttp request: this phase
hands it plain values (method, raw target, headers, body bytes or the client's stream) and gets
back an UpstreamResponse for the response phases.
"""
from __future__ import annotations

from aiohttp import StreamReader, web

from ..errors import GatewayError
from ..proxy.answer import UpstreamResponse
from ..proxy.client import UpstreamClient


async def forward_request(request: web.Request, upstream: UpstreamClient, *, body: bytes | None,
                          request_id: str, project_id: str | None, client_ip: str,
                          route: str | None = None) -> UpstreamResponse:
    """`body`: the client's body when already read; None streams it (unless the upstream auth
    signs bodies: then it is read here, bounded like APIG)."""
    if body is None and upstream.needs_body and request.body_exists:
        body = await _read_whole_body(request, upstream.max_body_bytes)
    raw_path, raw_query = split_target(request)
    streamed = body is None and request.body_exists
    out = upstream.outgoing(
        request.method, raw_path, raw_query, request.headers.items(), body=body,
        streamed_length=request.content_length if streamed else None, request_id=request_id,
        project_id=project_id, client_ip=client_ip, proto=request.scheme, original_host=request.host)
    stream = request.content.iter_any() if out.body is None and request.body_exists else None
    return await upstream.forward(out, stream=stream, route=route)


async def _read_whole_body(request: web.Request, limit: int) -> bytes:
    """The auth mode signs the body, so it must be read first; bounded like APIG (413)."""
    if (request.content_length or 0) > limit:
        raise GatewayError.of("too_large")  # declared too big: refuse without reading a byte
    try:
        return await read_limited(request.content, limit)
    except BodyTooLarge:
        raise GatewayError.of("too_large") from None


def split_target(request: web.Request) -> tuple[str, str]:
    """The raw path and raw query exactly as the client sent them (no decoding, no re-encoding)."""
    target = request.raw_path
    if not target.startswith("/"):  # absolute-form request target: fall back to the parsed URL
        return request.rel_url.raw_path, request.rel_url.raw_query_string
    path, _, query = target.partition("?")
    return path, query


class BodyTooLarge(Exception):
    """The stream held more than the caller's limit."""


async def read_limited(stream: StreamReader, limit: int) -> bytes:
    """The whole stream, or BodyTooLarge as soon as it passes `limit` (never reads much beyond)."""
    parts: list[bytes] = []
    remaining = limit + 1
    while remaining > 0:
        chunk = await stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    if remaining <= 0:
        raise BodyTooLarge(limit)
    return b"".join(parts)
