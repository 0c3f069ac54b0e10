"""Reading a request body under the 12 MB limit, refusing early when Content-Length says so.

The read is also bounded in time: a client that announces a body and then trickles it (or never
sends it) would otherwise hold its handler, and whatever it had acquired, forever.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..errors import GatewayError

BODY_TIMEOUT_S = 60.0


async def read_limited_body(request: web.Request, limit: int, *, timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    if not request.body_exists:
        return b""   # a signed GET: nothing to read, no stream iteration to set up
    declared = request.content_length
    if declared is not None and declared > limit:
        raise GatewayError.of("too_large")
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_chunks(request, limit)
    except TimeoutError:
        raise GatewayError.of("request_timeout") from None


async def _read_chunks(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise GatewayError.of("too_large")
        chunks.append(chunk)
    return b"".join(chunks)
