"""One keep-alive HTTP/1.1 connection to the upstream, on a bare asyncio Protocol.

Why not aiohttp's ClientSession: per proxied request it builds a ClientRequest, a payload, a
writer, a response object, a parser and re-armed read timers, which cost the gateway more CPU than
everything else it does (bench/RESULTS.md). Here a request is one `transport.write`, the answer
is parsed from one buffer, and one timer per connection bounds every wait for bytes.

Errors, as the proxy maps them: `UpstreamDropped` (the peer closed or reset before answering:
502, retryable for GET/HEAD when `no_reply` is set), `UpstreamTimeout` (silence for `timeout_s`:
504), `MalformedResponse` (502), `IncompleteBody` (the body broke off after the head).
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterable, AsyncIterator, Callable

from .http1_head import (FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE, MAX_CHUNK_LINE_BYTES,
                         MAX_HEAD_BYTES, MAX_HEAD_LINE_BYTES, MAX_INTERIM_RESPONSES, MAX_TRAILER_LINES,
                         MalformedResponse, ResponseHead, parse_chunk_size, parse_response_head,
                         parse_trailer)

READ_PAUSE_BYTES = 256 * 1024   # stop reading from the socket while this much is unconsumed
SMALL_WRITE_BYTES = 64 * 1024   # a body up to this size is joined to the head: one write


class UpstreamDropped(Exception):
    """The connection closed or failed. `no_reply`: not one byte of an answer had arrived."""

    def __init__(self, message: str, *, no_reply: bool) -> None:
        super().__init__(message)
        self.no_reply = no_reply


class UpstreamTimeout(Exception):
    """No bytes from the upstream for the read timeout."""


class IncompleteBody(Exception):
    """The body ended (closed connection) before its declared end."""


class Connection(asyncio.Protocol):
    """Bytes in, bytes out, with at most one reader waiting. Owned by one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.loop = self._loop = loop
        self._timeout_s = timeout_s   # the silence allowed per wait when no `deadline` is set
        # An absolute end for every wait (loop time): the pool sets it per exchange, so a peer
        # dribbling bytes cannot stretch the head past it; None while a body is streamed.
        self.deadline: float | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._closed = False
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._deadline = 0.0        # of the current wait for data
        self._timer: asyncio.TimerHandle | None = None
        self._drain: asyncio.Future[None] | None = None
        self.idle_since = 0.0
        self.received_any = False   # any byte of the current exchange's answer

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self.received_any = True
        if len(self._buffer) > READ_PAUSE_BYTES and not self._reading_paused and self._transport:
            self._transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._closed = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._stop_timer()
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._drain = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    def transport(self) -> asyncio.Transport:
        return self._require_open()

    def upgraded(self, transport: asyncio.Transport) -> None:
        """TLS now runs over the old transport (a proxy's CONNECT tunnel): write to this one."""
        self._transport = transport

    # -- state ------------------------------------------------------------------------------
    @property
    def reusable(self) -> bool:
        """Still open, and the peer sent nothing unasked (a stale or confused connection)."""
        transport = self._transport
        return (not self._closed and not self._buffer and transport is not None
                and not transport.is_closing())

    def close(self) -> None:
        self._closed = True
        self._stop_timer()
        if self._transport is not None:
            self._transport.abort()   # never reused: unsent bytes do not matter, RST is fine

    # -- writing ----------------------------------------------------------------------------
    def send(self, head: bytes, body: bytes | None) -> None:
        """Head and a small body in one write (the transport buffers everything it cannot send)."""
        self.received_any = False
        transport = self._require_open()
        if body and len(body) > SMALL_WRITE_BYTES:
            transport.writelines((head, body))
        else:
            transport.write(head + body if body else head)

    async def send_stream(self, chunks: AsyncIterable[bytes], *, chunked: bool) -> None:
        """A streamed body (already announced by the head), with flow control both ways."""
        for_chunk = _chunk if chunked else None
        async for chunk in chunks:
            if chunk:
                self._require_open().write(for_chunk(chunk) if for_chunk else chunk)
                await self._wait_drained()
        if chunked:
            self._require_open().write(b"0\r\n\r\n")

    # -- reading ----------------------------------------------------------------------------
    async def read_head(self, method: str) -> ResponseHead:
        """The next final response head (up to MAX_INTERIM_RESPONSES interim 1xx answers skipped)."""
        for _ in range(MAX_INTERIM_RESPONSES + 1):
            end = await self._find(b"\r\n\r\n", MAX_HEAD_BYTES, "response head too large")
            raw = self._take(end + 4)[:-4]
            head = parse_response_head(bytes(raw), method=method)
            if head.status >= 200:
                return head
            if head.status == 101:
                raise MalformedResponse("protocol switch (101) is not supported")
        raise MalformedResponse("too many interim responses")

    async def read_exactly(self, size: int) -> bytes:
        """`size` bytes, buffered whole (the caller bounds `size`): reading is never paused here."""
        while len(self._buffer) < size:
            if self._closed:
                raise IncompleteBody(f"{len(self._buffer)} of {size} bytes")
            if self._reading_paused and self._transport is not None:
                self._reading_paused = False
                self._transport.resume_reading()
            await self._wait_for_data()
        return bytes(self._take(size))

    async def read_some(self, limit: int) -> bytes:
        """What is buffered (at most `limit`), waiting for some if none; b"" at the end."""
        while not self._buffer:
            if self._closed:
                return b""
            await self._wait_for_data()
        return bytes(self._take(min(limit, len(self._buffer))))

    async def read_line(self, limit: int) -> bytes:
        end = await self._find(b"\r\n", limit, "chunk line too long")
        return bytes(self._take(end + 2)[:-2])

    async def _find(self, marker: bytes, limit: int, too_long: str) -> int:
        start = 0
        while True:
            end = self._buffer.find(marker, start)
            if 0 <= end <= limit:
                return end
            if end > limit or len(self._buffer) > limit:
                raise MalformedResponse(too_long)
            if self._closed:
                if not self.received_any:
                    raise UpstreamDropped("closed before answering", no_reply=True)
                raise IncompleteBody("closed mid-message")
            start = max(0, len(self._buffer) - len(marker) + 1)
            await self._wait_for_data()

    def _take(self, size: int) -> bytearray:
        taken = self._buffer[:size]
        del self._buffer[:size]
        if self._reading_paused and len(self._buffer) <= READ_PAUSE_BYTES // 2 and self._transport:
            self._reading_paused = False
            self._transport.resume_reading()
        return taken

    async def _wait_for_data(self) -> None:
        """UpstreamTimeout at `deadline`, or after timeout_s of silence when there is none. Each
        wait only moves the deadline: the connection's one timer, armed when none is pending (or
        when it would fire too late), re-arms itself if it fires early (a timer per wait cost
        as much as the rest of the wait)."""
        loop = self._loop
        waiter = self._waiter = loop.create_future()
        deadline = self._deadline = self.deadline if self.deadline is not None else loop.time() + self._timeout_s
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(deadline, self._check_deadline)
        try:
            await waiter
        finally:
            self._waiter = None

    def _check_deadline(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return                       # not waiting now: the next wait arms a new timer
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._check_deadline)
        else:
            waiter.set_exception(UpstreamTimeout())

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _wait_drained(self) -> None:
        drain = self._drain
        if drain is None:
            return
        timer = self._loop.call_later(self._timeout_s, _expire, drain)
        try:
            await drain
        finally:
            timer.cancel()
        if self._closed:
            raise UpstreamDropped("closed while the body was sent", no_reply=not self.received_any)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _require_open(self) -> asyncio.Transport:
        if self._closed or self._transport is None or self._transport.is_closing():
            raise UpstreamDropped("connection closed", no_reply=not self.received_any)
        return self._transport


class Response:
    """An upstream answer: the parsed head now, the body read on demand through one of
    `read_all`, `read_capped` or `iter_chunks`. `complete` once the body's end was read."""

    def __init__(self, connection: Connection, head: ResponseHead) -> None:
        self.connection = connection
        self.head = head
        self.status = head.status
        self.reason = head.reason
        self.headers = head.headers
        self.keep_alive = head.keep_alive
        self.complete = head.framing == FRAMING_NONE or (
            head.framing == FRAMING_LENGTH and head.content_length == 0)
        self._remaining = head.content_length if head.framing == FRAMING_LENGTH else None
        self.on_release: Callable[[Response], None] | None = None   # set by the pool

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and self.connection.reusable

    def stream_body(self) -> None:
        """The body is relayed as it comes: from now on only silence (the read timeout) ends it,
        not the exchange's deadline (a long healthy download is fine)."""
        self.connection.deadline = None

    def release(self) -> None:
        """Done with this answer: the pool keeps or closes the connection (idempotent)."""
        on_release, self.on_release = self.on_release, None
        if on_release is not None:
            on_release(self)
        elif not self.reusable:
            self.connection.close()

    async def read_all(self) -> bytes:
        """The whole body (callers check the declared length first)."""
        if self.complete:
            return b""
        if self._remaining is not None:
            body = await self.connection.read_exactly(self._remaining)
            self._remaining = 0
            self.complete = True
            return body
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def read_capped(self, cap: int) -> bytes:
        """At most `cap` bytes of the body; the rest stays unread (the connection is then closed)."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.iter_chunks(cap):
            parts.append(chunk)
            size += len(chunk)
            if size >= cap:
                break
        return b"".join(parts)[:cap]

    async def iter_chunks(self, size_hint: int = READ_PAUSE_BYTES) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (chunked framing decoded)."""
        if self.complete:
            return
        if self.head.framing == FRAMING_CHUNKED:
            async for chunk in self._chunked():
                yield chunk
            return
        read_some = self.connection.read_some
        while self._remaining is None or self._remaining > 0:
            limit = size_hint if self._remaining is None else min(size_hint, self._remaining)
            chunk = await read_some(limit)
            if not chunk:
                if self._remaining is not None:
                    raise IncompleteBody(f"{self._remaining} bytes missing")
                break   # close-delimited: the end of the body
            if self._remaining is not None:
                self._remaining -= len(chunk)
            yield chunk
        self.complete = True

    async def _chunked(self) -> AsyncIterator[bytes]:
        connection = self.connection
        while True:
            size = parse_chunk_size(await connection.read_line(MAX_CHUNK_LINE_BYTES))
            if size == 0:
                await self._trailers()
                self.complete = True
                return
            while size > 0:
                piece = await connection.read_some(size)
                if not piece:
                    raise IncompleteBody("chunked body cut")
                size -= len(piece)
                yield piece
            if await connection.read_line(2) != b"":
                raise MalformedResponse("chunk data longer than its size")

    async def _trailers(self) -> None:
        """Trailer lines are read, checked and dropped (at most MAX_TRAILER_LINES)."""
        for _ in range(MAX_TRAILER_LINES + 1):
            line = await self.connection.read_line(MAX_HEAD_LINE_BYTES)
            if not line:
                return
            parse_trailer(line)
        raise MalformedResponse("too many trailer lines")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout())
