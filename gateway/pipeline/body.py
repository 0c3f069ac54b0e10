"""Reading a request body under the 12 MB limit, refusing early when Content-Length says so."""
from __future__ import annotations

from aiohttp import web

from ..errors import GatewayError


async def read_limited_body(request: web.Request, limit: int) -> bytes:
    if not request.body_exists:
        return b""   # a signed GET: nothing to read, no stream iteration to set up
    declared = request.content_length
    if declared is not None and declared > limit:
        raise GatewayError.of("too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise GatewayError.of("too_large")
        chunks.append(chunk)
    return b"".join(chunks)
