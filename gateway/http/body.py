"""The one reader of request bodies: bounded in size, in time, and by a process-wide budget.

Every caller (AK/SK-signed, token-authenticated, IAM routes, and a body the upstream auth mode
signs) reads through `BodyLease.read_request`, and only once the caller is identified far enough that
buffering for it is not free for an attacker (pipeline/ddm.py calls `ClientBody.read` after the
credential is resolved; the IAM handlers, http/iam.py, read their small JSON bodies through it).

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
from typing import AsyncIterator

from aiohttp import web

from ..body_budget import BodyBudget
from ..errors import GatewayError

BODY_TIMEOUT_S = 60.0
CHUNK_BYTES = 64 * 1024


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

    async def read_request(self, request: web.Request, limit: int, *, timeout_s: float = BODY_TIMEOUT_S) -> bytes:
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


class ClientBody(BodyLease):
    """A request's body as the pipeline sees it (gateway.request.RequestBody): its reads are
    bounded by the route's limit and the listener's body timeout, and held against the budget
    until `release()` at the end of the request."""

    def __init__(self, budget: BodyBudget, request: web.Request, limit: int, timeout_s: float) -> None:
        super().__init__(budget)
        self._request = request
        self._limit = limit
        self._timeout_s = timeout_s

    @property
    def length(self) -> int | None:
        return self._request.content_length

    async def read(self) -> bytes:
        return await self.read_request(self._request, self._limit, timeout_s=self._timeout_s)

    def stream(self) -> AsyncIterator[bytes]:
        return self._request.content.iter_any()
