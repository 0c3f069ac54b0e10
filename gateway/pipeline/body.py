"""The one reader of request bodies: bounded in size, in time, and by a process-wide budget.

Every caller (AK/SK-signed, token-authenticated and IAM routes) reads through `BodyLease.read`,
and only once the caller is identified far enough that buffering for it is not free for an
attacker (pipeline/ddm.py and iam/routes.py call it after the credential is resolved).

- size: Content-Length over the limit is refused before a byte is read, a chunked body as soon
  as it passes the limit (413);
- time: a client that announces a body and trickles it (or never sends it) gets 408 after
  `listen.body_timeout_s`;
- memory: all bodies buffered at once share `listen.max_buffered_bytes`; a request that would
  pass it gets 503 with Retry-After instead of growing the process (the budget is taken before
  reading, from Content-Length, or chunk by chunk for a chunked body, and given back when the
  request that held it ends).
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..errors import GatewayError

BODY_TIMEOUT_S = 60.0
CHUNK_BYTES = 64 * 1024


class BodyBudget:
    """Bytes buffered for request bodies across the process. Plain counters on one event loop,
    so no lock is needed: nothing awaits between the check and the update."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self, size: int) -> bool:
        if self.in_use + size > self.limit:
            return False
        self.in_use += size
        return True

    def give_back(self, size: int) -> None:
        self.in_use -= size

    def lease(self) -> "BodyLease":
        return BodyLease(self)


class BodyLease:
    """What one request holds of the budget; `release()` (or `with`) gives it all back."""

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self._held = 0

    def __enter__(self) -> "BodyLease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        self._budget.give_back(self._held)
        self._held = 0

    async def read(self, request: web.Request, limit: int, *, timeout_s: float = BODY_TIMEOUT_S) -> bytes:
        if not request.body_exists:
            return b""   # a signed GET: nothing to read, no stream iteration to set up
        declared = request.content_length
        if declared is not None:
            if declared > limit:
                raise GatewayError.of("too_large")
            self._take(declared)
        try:
            async with asyncio.timeout(timeout_s):
                return await self._read_chunks(request, limit, counted=declared is not None)
        except TimeoutError:
            raise GatewayError.of("request_timeout") from None

    async def _read_chunks(self, request: web.Request, limit: int, *, counted: bool) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise GatewayError.of("too_large")
            if not counted:
                self._take(len(chunk))
            chunks.append(chunk)
        return b"".join(chunks)

    def _take(self, size: int) -> None:
        if not self._budget.take(size):
            raise GatewayError.of("busy", headers=(("Retry-After", "1"),))
        self._held += size
