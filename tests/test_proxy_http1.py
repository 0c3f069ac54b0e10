"""The gateway's own HTTP/1.1 upstream client (proxy/http1_head.py, http1.py, pool.py), on its own:
pure head parsing, then a scripted raw-socket upstream for framing, keep-alive, stale connections,
timeouts; and the proxy's clean 502/504 for what the client refuses."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

import pytest
from aiohttp import web

from gateway.errors import GatewayError
from gateway.http.relay import relay
from gateway.proxy.client import UpstreamClient
from gateway.proxy.http1 import IncompleteBody, UpstreamDropped, UpstreamTimeout
from gateway.proxy.http1_head import (FRAMING_CHUNKED, _checked_head, FRAMING_CLOSE, FRAMING_LENGTH, FRAMING_NONE,
                                      MAX_HEAD_BYTES, MAX_HEAD_LINE_BYTES, MAX_HEADER_LINES, InvalidRequest, MalformedResponse, parse_chunk_size,
                                      parse_response_head, request_head)
from gateway.proxy.pool import ConnectFailed, UpstreamPool
from gateway.proxy.upstream_auth import NoUpstreamAuth

from .test_proxy_support import forward_plain, forwarding_app

# -- pure: heads ------------------------------------------------------------------------------


def test_request_head_is_one_block_of_crlf_lines() -> None:
    head = request_head("GET", "/v3/p?a=%20", (("Host", "ddm:1"), ("X-A", "b")))
    assert head == b"GET /v3/p?a=%20 HTTP/1.1\r\nHost: ddm:1\r\nX-A: b\r\n\r\n"


@pytest.mark.parametrize("headers", [(("X-A", "b\r\nX-Evil: 1"),), (("X-A\n", "b"),), (("X-A", "b\rc"),)])
def test_request_head_refuses_cr_and_lf(headers: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(InvalidRequest):
        request_head("GET", "/", headers)


def test_response_head_fields_and_framing() -> None:
    head = parse_response_head(b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\nSet-Cookie: a=1\r\n"
                               b"Set-Cookie: b=2\r\nX-Empty:", method="POST")
    assert (head.status, head.reason, head.framing, head.content_length, head.keep_alive) == (
        201, "Created", FRAMING_LENGTH, 12, True)
    assert head.headers == (("Content-Length", "12"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                            ("X-Empty", ""))


@pytest.mark.parametrize(("raw", "method", "framing", "keep_alive"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "GET", FRAMING_CHUNKED, True),
    # both framings: read as chunked, but such a connection is never reused (RFC 9112 6.1)
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5", "GET", FRAMING_CHUNKED, False),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked", "GET", FRAMING_CHUNKED, True),
    (b"HTTP/1.1 200 OK", "GET", FRAMING_CLOSE, False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5", "HEAD", FRAMING_NONE, True),
    (b"HTTP/1.1 204 No Content", "DELETE", FRAMING_NONE, True),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9", "GET", FRAMING_NONE, True),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1", "GET", FRAMING_LENGTH, False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1", "GET", FRAMING_LENGTH, False),
    # HTTP/1.0 persistence is not trusted: the connection ends with the reply
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1", "GET", FRAMING_LENGTH, False),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked", "GET", FRAMING_CHUNKED, False),
    # repeats of one length, as lines or as a list (RFC 9110 8.6)
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3", "GET", FRAMING_LENGTH, True),
    (b"HTTP/1.1 200 \r\nContent-Length: 1", "GET", FRAMING_LENGTH, True),
    (b"HTTP/1.1 200\r\nContent-Length: 1", "GET", FRAMING_LENGTH, True),
])
def test_response_framing(raw: bytes, method: str, framing: str, keep_alive: bool) -> None:
    head = parse_response_head(raw, method=method)
    assert (head.framing, head.keep_alive) == (framing, keep_alive)


@pytest.mark.parametrize("raw", [
    b"HTTP/2 200 OK", b"ICY 200 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1 abc OK", b"HTTP/1.1", b"",
    b"garbage", b"HTTP/1.1 \xd9\xa2\xd9\xa0\xd9\xa0 OK",
    b"HTTP/1.1 200 OK\r\nNo-Colon", b"HTTP/1.1 200 OK\r\n: empty-name", b"HTTP/1.1 200 OK\r\n folded: x",
    b"HTTP/1.1 200 OK\r\nName : spaced", b"HTTP/1.1 200 OK\r\nX: a\rb",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2", b"HTTP/1.1 200 OK\r\nContent-Length: -1",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1x", b"HTTP/1.1 200 OK\r\nX: a\x00b", b"HTTP/1.1 200 OK\r\nX\x7f: a",
    b"HTTP/1.1 200 OK\x0c\r\nX: a",
    # status codes below 100 are no HTTP status (not interim answers)
    b"HTTP/1.1 099 Odd", b"HTTP/1.1 000 Zero", b"HTTP/1.1 042 Odd\r\nContent-Length: 0",
    # names must be tokens
    b"HTTP/1.1 200 OK\r\nX(A): b", b"HTTP/1.1 200 OK\r\nX@A: b", b"HTTP/1.1 200 OK\r\nX\xc3\xa9: b",
    b"HTTP/1.1 200 OK\r\nX\"A: b",
    # transfer codings other than one chunked: the client could not decode what is relayed
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4",
    # per-line and line-count limits
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * MAX_HEAD_LINE_BYTES,
    b"HTTP/1.1 200 OK" + b"\r\nX-A: b" * (MAX_HEADER_LINES + 1),
])
def test_malformed_response_heads(raw: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_response_head(raw, method="GET")



@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2",
    b"HTTP/1.1 200\r\nX: 1", b"HTTP/1.1 200 \r\nX: 1", b"HTTP/1.0 404  Not  Found \r\nX:",
    b"HTTP/1.1 200 OK\r\nX:\t a b \t\r\nY:  \r\nZ:\tz", b"HTTP/1.1 200 \tOK\t\r\nX: \xc3\xa9 \xff",
    b"HTTP/1.1 200 OK\r\nX: a:b: c\r\nSet-Cookie: a=1\r\nset-cookie: b=2",
    b"HTTP/1.1 200 OK" + b"\r\nX-A: b" * MAX_HEADER_LINES,
    # longer than one line may be: read line by line, to the same fields
    b"HTTP/1.1 200 OK" + (b"\r\nX-Padding: " + b"p" * 100) * 90,
])
def test_usual_heads_read_as_line_by_line(raw: bytes) -> None:
    """The one-regex reading of a usual head gives what the line-by-line reading gives."""
    head = parse_response_head(raw, method="GET")
    version, status, reason, headers = _checked_head(raw)
    assert (head.status, head.reason, head.headers) == (status, reason, tuple(headers))
    assert head.keep_alive == (version == "HTTP/1.1" and head.framing == FRAMING_LENGTH)


def test_chunk_size_lines() -> None:
    assert parse_chunk_size(b"1a") == 26
    assert parse_chunk_size(b"FF;name=value") == 255
    for bad in (b"", b"-1", b"zz", b"0x10", b"1" * 17):
        with pytest.raises(MalformedResponse):
            parse_chunk_size(bad)


# -- a scripted raw upstream ------------------------------------------------------------------

Script = Callable[[bytes, int], bytes | None]   # (request bytes, connection number) -> reply, None: hang


@dataclass
class RawUpstream:
    """Reads one request (head + Content-Length or chunked body) per turn, answers the script's bytes;
    b"" closes the connection without answering; None never answers."""

    script: Script
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.writers.append(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                reply = self.script(request, number)
                if reply is None:
                    await asyncio.sleep(30)
                if not reply:
                    break
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        body = b""
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.strip(), 16)
            body += line + await reader.readexactly(size + 2)
            if size == 0:
                return head + body
    for line in lowered.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return head + await reader.readexactly(int(line.split(b":")[1]))
    return head


@pytest.fixture
async def raw_upstream() -> AsyncIterator[Callable[[Script], asyncio.Future]]:  # type: ignore[type-arg]
    servers: list[asyncio.base_events.Server] = []
    recorders: list[RawUpstream] = []

    async def make(script: Script) -> tuple[RawUpstream, int]:
        recorder = RawUpstream(script)
        server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
        servers.append(server)
        recorders.append(recorder)
        return recorder, server.sockets[0].getsockname()[1]

    yield make  # type: ignore[misc]
    for recorder in recorders:
        for writer in recorder.writers:
            writer.close()
    for server in servers:
        server.close()


def _pool(port: int, *, timeout_s: float = 2.0) -> UpstreamPool:
    return UpstreamPool("127.0.0.1", port, tls=None, connect_timeout_s=1.0, timeout_s=timeout_s)


def _ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), extra, body)


async def _get(pool: UpstreamPool, target: str = "/x", method: str = "GET", **kwargs) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    reply = await pool.exchange(method, target, (("Host", "up"),), **kwargs)
    try:
        return reply.status, await reply.read_all()
    finally:
        reply.release()


# -- the pool ---------------------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b"n=%d" % n))
    pool = _pool(port)
    for _ in range(3):
        assert await _get(pool) == (200, b"n=1")
    assert recorder.connections == 1
    assert recorder.requests[0] == b"GET /x HTTP/1.1\r\nHost: up\r\n\r\n"
    await pool.close()


async def test_body_framing_sent_upstream(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok())
    pool = _pool(port)

    async def pieces() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b""
        yield b"cde"

    await _get(pool, method="POST", body=b'{"a":1}')
    await _get(pool, method="POST")
    await _get(pool, method="PUT", stream=pieces())
    await _get(pool, method="GET", body=b"")
    assert recorder.requests[0].endswith(b'Content-Length: 7\r\n\r\n{"a":1}')
    assert recorder.requests[1].endswith(b"Content-Length: 0\r\n\r\n")
    assert recorder.requests[2].endswith(b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")
    assert recorder.requests[3].endswith(b"Content-Length: 0\r\n\r\n")
    await pool.close()


async def test_chunked_reply_with_extensions_and_trailers(raw_upstream) -> None:
    reply = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
    recorder, port = await raw_upstream(lambda request, n: reply)
    pool = _pool(port)
    assert await _get(pool) == (200, b"hello world")
    assert await _get(pool) == (200, b"hello world")
    assert recorder.connections == 1   # fully read chunked: reusable
    await pool.close()


async def test_close_delimited_reply_is_read_to_the_end_and_not_reused(raw_upstream) -> None:
    def script(request: bytes, n: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nuntil-close"

    recorder, port = await raw_upstream(script)
    orig = recorder.handle

    async def close_after_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_request(reader)
        recorder.connections += 1
        writer.write(script(request or b"", recorder.connections))
        await writer.drain()
        writer.close()

    recorder.handle = close_after_reply  # type: ignore[method-assign]
    del orig
    server = await asyncio.start_server(close_after_reply, "127.0.0.1", 0)
    pool = _pool(server.sockets[0].getsockname()[1])
    assert await _get(pool) == (200, b"until-close")
    assert await _get(pool) == (200, b"until-close")
    assert recorder.connections == 2
    server.close()
    await pool.close()


async def test_interim_100_continue_is_skipped(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"final"))
    pool = _pool(port)
    assert await _get(pool) == (200, b"final")
    await pool.close()


async def test_connection_close_reply_is_not_reused(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b"x", b"Connection: close\r\n"))
    pool = _pool(port)
    await _get(pool)
    await _get(pool)
    assert recorder.connections == 2
    await pool.close()


async def test_connection_closed_by_upstream_between_requests_is_not_reused(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b"n=%d" % n))
    pool = _pool(port)
    assert await _get(pool) == (200, b"n=1")
    for writer in recorder.writers:
        writer.close()          # the upstream's idle timeout
    await asyncio.sleep(0.05)
    assert await _get(pool) == (200, b"n=2")   # a fresh connection, no error
    await pool.close()


async def test_an_idle_connection_left_unused_past_keepalive_is_closed(raw_upstream) -> None:
    closed: list[int] = []

    def script(request: bytes, n: int) -> bytes:
        return _ok(b"n=%d" % n)

    recorder, port = await raw_upstream(script)
    original = recorder.handle

    async def tracking(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = recorder.connections + 1
        await original(reader, writer)
        closed.append(number)

    server = await asyncio.start_server(tracking, "127.0.0.1", 0)
    pool = UpstreamPool("127.0.0.1", server.sockets[0].getsockname()[1], tls=None, connect_timeout_s=1.0,
                        timeout_s=2.0, keepalive_s=0.2)
    await asyncio.gather(_get(pool), _get(pool))      # two connections, both idle afterwards
    for _ in range(8):                                 # steady use of the most recent one only
        await _get(pool)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    assert recorder.connections == 2 and len(closed) == 1   # the unused one was closed
    server.close()
    await pool.close()


async def test_unasked_bytes_make_an_idle_connection_stale(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b"n=%d" % n))
    pool = _pool(port)
    await _get(pool)
    recorder.writers[0].write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray")
    await asyncio.sleep(0.05)
    assert await _get(pool) == (200, b"n=2")
    await pool.close()


async def test_upstream_closing_without_answer_is_dropped_with_no_reply(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: b"")
    pool = _pool(port)
    with pytest.raises(UpstreamDropped) as caught:
        await _get(pool)
    assert caught.value.no_reply
    await pool.close()


async def test_truncated_body_and_head(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    pool = _pool(port, timeout_s=0.2)
    with pytest.raises(UpstreamTimeout):
        await _get(pool)      # the upstream keeps the connection open: silence is a timeout
    await pool.close()


async def test_silence_is_a_timeout(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: None)
    pool = _pool(port, timeout_s=0.2)
    with pytest.raises(UpstreamTimeout):
        await _get(pool)
    await pool.close()


async def test_a_later_wait_gets_its_whole_timeout_on_a_reused_connection(raw_upstream) -> None:
    """One timer per connection: armed by the first wait, it fires during the second one and must
    re-arm for that wait's own deadline instead of cutting it short."""
    answered = [False]

    def script(request: bytes, n: int) -> bytes | None:
        if answered[0]:
            return None                 # the second request: silence
        answered[0] = True
        return _ok(b"first")
    recorder, port = await raw_upstream(script)
    pool = _pool(port, timeout_s=0.4)
    loop = asyncio.get_running_loop()
    assert await _get(pool) == (200, b"first")
    await asyncio.sleep(0.2)            # the first wait's timer is now half-way to firing
    started = loop.time()
    with pytest.raises(UpstreamTimeout):
        await _get(pool)
    assert loop.time() - started >= 0.4 - 0.01   # never earlier than the wait's own deadline
    assert recorder.connections == 1
    await pool.close()


async def test_requests_beyond_max_connections_queue_and_a_cancelled_one_leaks_no_slot(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b"n=%d" % n))
    pool = UpstreamPool("127.0.0.1", port, tls=None, connect_timeout_s=1.0, timeout_s=2.0, max_connections=1)
    first = await pool.exchange("GET", "/a", (("Host", "up"),))
    second = asyncio.ensure_future(_get(pool, "/b"))
    cancelled = asyncio.ensure_future(_get(pool, "/c"))
    await asyncio.sleep(0.05)
    assert not second.done() and not cancelled.done()     # both wait for the one slot
    cancelled.cancel()
    await asyncio.sleep(0)
    assert await first.read_all() == b"n=1"
    first.release()
    assert await asyncio.wait_for(second, 2) == (200, b"n=1")   # same connection, handed over
    assert await asyncio.wait_for(_get(pool, "/d"), 2) == (200, b"n=1")   # the slot came back
    assert [r.split(b" ")[1] for r in recorder.requests] == [b"/a", b"/b", b"/d"]
    await pool.close()


async def test_refused_connect() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectFailed) as caught:
        await _get(_pool(port))
    assert not caught.value.timed_out


async def test_oversized_head_is_malformed(raw_upstream) -> None:
    huge = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n"
    recorder, port = await raw_upstream(lambda request, n: huge)
    pool = _pool(port)
    with pytest.raises(MalformedResponse):
        await _get(pool)
    await pool.close()


async def test_bad_chunk_data_is_malformed(raw_upstream) -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"
    recorder, port = await raw_upstream(lambda request, n: reply)
    pool = _pool(port)
    with pytest.raises(MalformedResponse):
        await _get(pool)
    await pool.close()


async def test_body_cut_by_close_is_incomplete() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    pool = _pool(server.sockets[0].getsockname()[1])
    with pytest.raises(IncompleteBody):
        await _get(pool)
    server.close()
    await pool.close()


async def test_large_body_streams_with_flow_control(raw_upstream) -> None:
    body = bytes(range(256)) * 8192   # 2 MiB: more than the read pause threshold
    recorder, port = await raw_upstream(lambda request, n: _ok(body))
    pool = _pool(port)
    reply = await pool.exchange("GET", "/big", (("Host", "up"),))
    received = bytearray()
    async for chunk in reply.iter_chunks(65536):
        received += chunk
        await asyncio.sleep(0)
    reply.release()
    assert received == body
    assert await _get(pool) == (200, body)
    assert recorder.connections == 1
    await pool.close()


# -- through the proxy: clean 502 / 504 --------------------------------------------------------


async def _front(aiohttp_client, port: int, timeout_s: float = 1.0, **server_kwargs):  # type: ignore[no-untyped-def]
    proxy = UpstreamClient(f"http://127.0.0.1:{port}", NoUpstreamAuth(), connect_timeout_s=1.0,
                           timeout_s=timeout_s)
    await proxy.start()

    app = forwarding_app(proxy, request_id="rid-7", client_ip="198.51.100.1", legacy_by_path=False)
    app.on_cleanup.append(lambda _app: proxy.close())
    return await aiohttp_client(app, server_kwargs=server_kwargs)


@pytest.mark.parametrize("reply", [
    b"HTTP/9 200 OK\r\n\r\n", b"NOT HTTP AT ALL\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nX-A: a\x1bb\r\nContent-Length: 1\r\n\r\nx",
], ids=["bad version", "not http", "oversized headers", "conflicting length", "upgrade", "NUL in a value",
        "ESC in a value"])
async def test_unusable_replies_are_a_clean_502(aiohttp_client, raw_upstream, reply: bytes) -> None:
    recorder, port = await raw_upstream(lambda request, n: reply)
    client = await _front(aiohttp_client, port)
    resp = await client.post("/v3/p/instances", data=b"{}")
    assert resp.status == 502
    assert json.loads(await resp.read())["error_msg"] == "Backend unavailable."
    assert len(recorder.requests) == 1


async def test_silent_upstream_is_a_504(aiohttp_client, raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: None)
    client = await _front(aiohttp_client, port, timeout_s=0.2)
    resp = await client.get("/v3/p/instances")
    assert resp.status == 504
    assert json.loads(await resp.read())["error_msg"] == "Backend timeout."


async def test_replies_pass_through_whole_and_chunked(aiohttp_client, raw_upstream) -> None:
    def script(request: bytes, n: int) -> bytes:
        if b"/chunked" in request:
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: c\r\n\r\n"
                    b"3\r\nabc\r\n0\r\n\r\n")
        return _ok(b"whole", b"X-Kind: w\r\nKeep-Alive: timeout=5\r\n")

    recorder, port = await raw_upstream(script)
    client = await _front(aiohttp_client, port)
    whole = await client.get("/whole")
    assert (whole.status, whole.headers["X-Kind"], await whole.read()) == (200, "w", b"whole")
    assert "Keep-Alive" not in whole.headers
    chunked = await client.get("/chunked")
    assert (chunked.status, chunked.headers["X-Kind"], await chunked.read()) == (200, "c", b"abc")
    assert recorder.connections == 1


async def test_https_upstream_is_verified(aiohttp_client, aiohttp_server, tmp_path, monkeypatch) -> None:
    """An https:// upstream: TLS with the default verification (a private CA via SSL_CERT_FILE,
    as OpenSSL reads it); an unverifiable certificate is a clean 502, never a silent downgrade."""
    import ssl

    from tests.test_tls import self_signed

    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(cert), str(key))
    async def over_tls(request: web.Request) -> web.Response:
        return web.Response(text="over tls")

    app = web.Application()
    app.router.add_get("/{tail:.*}", over_tls)
    server = await aiohttp_server(app, ssl=server_tls)

    async def through_proxy() -> tuple[int, bytes]:
        proxy = UpstreamClient(f"https://127.0.0.1:{server.port}", NoUpstreamAuth(), connect_timeout_s=2.0,
                               timeout_s=2.0)
        await proxy.start()

        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                answer = await forward_plain(request, proxy, content=None, request_id="rid-tls",
                                             project_id=None, client_ip="198.51.100.1")
                return await relay(request, answer, "rid-tls")
            except GatewayError as err:
                return web.Response(status=err.status)

        front = web.Application()
        front.router.add_route("*", "/{tail:.*}", handler)
        client = await aiohttp_client(front)
        try:
            resp = await client.get("/v3/p/instances")
            return resp.status, await resp.read()
        finally:
            await proxy.close()

    assert (await through_proxy())[0] == 502          # self-signed, not trusted
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    assert await through_proxy() == (200, b"over tls")


async def test_an_answer_before_the_streamed_body_is_sent_is_returned(aiohttp_client) -> None:
    """The upstream refuses (413) after the head, while the client is still uploading: the client
    gets that answer (normalized), and the half-used upstream connection is not reused."""
    connections: list[int] = []

    async def refuse_early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"error_code":"X.1","error_msg":"too big"}'
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
        await writer.drain()
        try:
            await reader.read()     # keep the connection open; never read the body on purpose
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(refuse_early, "127.0.0.1", 0)
    client = await _front(aiohttp_client, server.sockets[0].getsockname()[1])

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"x" * 10_000
            await asyncio.sleep(0)

    resp = await client.put("/v3/p/instances/i", data=upload())
    assert resp.status == 413
    assert json.loads(await resp.read())["error_code"] == "X.1"
    again = await client.get("/v3/p/instances")
    assert again.status == 413 and len(connections) == 2
    server.close()


async def test_a_client_leaving_mid_stream_is_quiet_and_frees_the_upstream(aiohttp_client, raw_upstream,
                                                                            caplog) -> None:
    big = b"z" * (4 * 1024 * 1024)   # above the one-write threshold: streamed
    recorder, port = await raw_upstream(lambda request, n: _ok(b"small") if b"/small" in request else _ok(big))
    client = await _front(aiohttp_client, port, handler_cancellation=True)   # as the gateway serves
    resp = await client.get("/big")
    await resp.content.read(1000)
    resp.close()                     # the client leaves after the first bytes
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    ok = await client.get("/small")
    assert (ok.status, await ok.read()) == (200, b"small")
    assert recorder.connections == 2   # the half-read upstream connection was not reused
