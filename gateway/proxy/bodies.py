"""Bounded decoding of an upstream error body.

Error bodies are read to be normalized, never forwarded, so a hostile or broken upstream must not
make the gateway buffer (or decompress) more than a small cap.
"""
from __future__ import annotations

import zlib


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
