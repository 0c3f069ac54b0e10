"""Bounded body reading and decoding at the proxy's edge.

Error bodies are read to be normalized, never forwarded, so a hostile or broken upstream must not
make the gateway buffer (or decompress) more than a small cap.
"""
from __future__ import annotations

import zlib

from aiohttp import StreamReader


class BodyTooLarge(Exception):
    """The stream held more than the caller's limit."""


async def read_capped(stream: StreamReader, cap: int) -> bytes:
    """At most `cap` bytes from the stream; the rest stays unread (the caller closes the stream)."""
    parts: list[bytes] = []
    remaining = cap
    while remaining > 0:
        chunk = await stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


async def read_limited(stream: StreamReader, limit: int) -> bytes:
    """The whole stream, or BodyTooLarge as soon as it passes `limit` (never reads much beyond)."""
    body = await read_capped(stream, limit + 1)
    if len(body) > limit:
        raise BodyTooLarge(limit)
    return body


def decode_content(body: bytes, content_encoding: str | None, cap: int) -> bytes:
    """Undo gzip/deflate (bounded to `cap` output bytes); unknown encodings give b"".

    The proxy forwards success bodies still encoded (the client asked for the encoding), but an
    error body is rewritten, so it must be readable first.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return b""
    for wbits in (zlib.MAX_WBITS | 32, -zlib.MAX_WBITS):  # gzip or zlib header, then raw deflate
        try:
            return zlib.decompressobj(wbits).decompress(body, cap)
        except zlib.error:
            continue
    return b""
