"""The upstream client's response framing against h11, a reference HTTP/1.1 parser.

The same byte stream (one response, then EOF) goes to our head parser and body framing
(http1.Connection fed in memory) and to an h11 client connection; both must reach the same
verdict: rejected, or accepted with the same status, body bytes and persistence.

The grammar leaves out what the gateway refuses on purpose where h11 is lenient, each checked
on its own in test_proxy_http1.py: bare LF line ends, obs-fold, HTTP versions other than 1.0/1.1,
101 (no upgrade is ever asked for), control characters other than NUL, VT and FF in a value or
the reason phrase (h11 accepts them; aiohttp would refuse to write them to the client), more
interim answers or trailer lines than the caps. One deliberate difference is in the verdict: a
reply framed by both Transfer-Encoding and Content-Length is read the same way, but its
connection is never reused (RFC 9112 6.1).
"""
from __future__ import annotations

import asyncio
from typing import Coroutine

import h11
from h11._connection import _body_framing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.proxy.http1 import Connection, IncompleteBody, Response, UpstreamDropped
from gateway.proxy.http1_head import MalformedResponse

Verdict = tuple[object, ...]
REJECTED: Verdict = ("rejected",)

NAMES = ["Content-Length", "content-length", "Transfer-Encoding", "transfer-encoding", "Connection",
         "X-A", "Set-Cookie", "X(A)", "X A", "X-A ", "", "X\xe9", "Trailer"]
VALUES = ["0", "3", "5", "3, 3", "3,4", "-1", "+3", "0x3", "chunked", "Chunked", " chunked ", "gzip",
          "gzip, chunked", "chunked, chunked", "identity", "close", "keep-alive", "Close, x", "", "  pad  ",
          "a\tb", "a\x00b", "a\x0bb", "a\x0cb", "caf\xe9", "x=1; Path=/"]
STATUSES = ["200", "201", "204", "304", "404", "502", "100", "103", "199", "099", "042", "000", "999",
            "20", "2000", "abc"]
REASONS = [" OK", " ", "", " Not Found", " a\tb", " caf\xe9"]


def _header(name: str, value: str) -> bytes:
    return f"{name}: {value}".encode("latin-1")


headers = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)).map(lambda nv: _header(*nv)),
                   max_size=5)
head_block = st.builds(
    lambda version, status, reason, lines: b"\r\n".join(
        [f"{version} {status}{reason}".encode("latin-1"), *lines]) + b"\r\n\r\n",
    st.sampled_from(["HTTP/1.1", "HTTP/1.0"]), st.sampled_from(STATUSES), st.sampled_from(REASONS), headers)
interim = st.builds(lambda code, lines: b"\r\n".join([f"HTTP/1.1 {code} Info".encode(), *lines]) + b"\r\n\r\n",
                    st.sampled_from(["100", "103"]), st.lists(st.just(b"X-Hint: 1"), max_size=2))


def _chunked_body(pieces: list[bytes], size_forms: list[str], trailers: list[bytes], tail: bytes) -> bytes:
    out = b""
    for piece, form in zip(pieces, size_forms + ["plain"] * len(pieces)):
        size = b"%x" % len(piece)
        size = {"plain": size, "padded": b"0" + size, "ext": size + b";name=value", "bws": size + b" ;e",
                "upper": size.upper(), "lead": b" " + size}[form]
        out += size + b"\r\n" + piece + b"\r\n"
    return out + b"0\r\n" + b"".join(line + b"\r\n" for line in trailers) + tail


chunked_body = st.builds(
    _chunked_body,
    st.lists(st.binary(min_size=1, max_size=6), max_size=3),
    st.lists(st.sampled_from(["plain", "padded", "ext", "bws", "upper", "lead"]), max_size=3),
    st.lists(st.sampled_from([b"X-Trail: 1", b"Bad Trailer: 1", b"X-T: a\x00b", b"NoColon"]), max_size=2),
    st.sampled_from([b"\r\n", b"", b"\r\nEXTRA", b"x\r\n"]),
)
body = st.one_of(st.binary(max_size=12), chunked_body, st.sampled_from([b"abc", b"abcdef", b"ab"]))
streams = st.builds(lambda pre, head, rest: b"".join(pre) + head + rest,
                    st.lists(interim, max_size=2), head_block, body)


class _MemoryTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        return None

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    close = abort

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


def _run(coroutine: Coroutine[object, object, Verdict]) -> Verdict:
    """Our side needs no I/O: one short-lived loop per stream is enough (and leaves no state)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


async def _ours(stream: bytes, method: str) -> Verdict:
    connection = Connection(asyncio.get_running_loop(), 5.0)
    connection.connection_made(_MemoryTransport())
    if stream:
        connection.data_received(stream)
    connection.eof_received()
    try:
        head = await connection.read_head(method)
        reply = Response(connection, head)
        payload = b"".join([chunk async for chunk in reply.iter_chunks()])
    except (MalformedResponse, IncompleteBody, UpstreamDropped):
        return REJECTED
    return ("accepted", head.status, payload, head.keep_alive)


def _theirs(stream: bytes, method: str) -> Verdict:
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method=method, target="/", headers=[("Host", "up")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(stream)
    connection.receive_data(b"")
    status, payload, reusable = 0, b"", False
    try:
        while True:
            event = connection.next_event()
            if isinstance(event, h11.Response):
                status = event.status_code
                names = {name.lower() for name, _ in event.headers}
                # h11 keeps a close-delimited reply's connection "alive" until the EOF it needs
                # anyway; its own framing verdict (a private helper) says which replies those are.
                close_delimited = _body_framing(method.encode(), event)[0] == "http/1.0"
                reusable = not close_delimited and not {b"content-length", b"transfer-encoding"} <= names
            elif isinstance(event, h11.Data):
                payload += event.data
            elif isinstance(event, h11.EndOfMessage):
                return ("accepted", status, payload, reusable and connection.their_state is h11.DONE)
            elif isinstance(event, h11.InformationalResponse):
                continue
            else:   # NEED_DATA after EOF, ConnectionClosed: the message never ended
                return REJECTED
    except h11.RemoteProtocolError:
        return REJECTED


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, method=st.sampled_from(["GET", "HEAD", "POST"]))
def test_framing_verdicts_match_h11(stream: bytes, method: str) -> None:
    ours = _run(_ours(stream, method))
    assert ours == _theirs(stream, method), stream


def test_the_grammar_reaches_both_verdicts() -> None:
    """The comparison above is only worth something if it sees acceptances and rejections of
    each kind of framing."""
    samples = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", ("accepted", 200, b"abc", True)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         ("accepted", 200, b"abc", False)),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\na", ("accepted", 200, b"a", False)),
        (b"HTTP/1.1 100 Go\r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest", ("accepted", 200, b"rest", False)),
        (b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n", REJECTED),
        (b"HTTP/1.1 200 OK\r\nX(A): 1\r\nContent-Length: 0\r\n\r\n", REJECTED),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", REJECTED),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: 1\r\n\r\n", REJECTED),
    ]
    for stream, verdict in samples:
        assert _run(_ours(stream, "GET")) == verdict == _theirs(stream, "GET"), stream
