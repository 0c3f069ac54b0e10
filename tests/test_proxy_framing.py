"""Response framing faults through the whole proxy, at the socket level on both sides: a scripted
raw upstream answers, and the test reads the gateway's reply bytes itself (an HTTP client
library would hide, or refuse, exactly what is being checked)."""
from __future__ import annotations

import asyncio

from gateway.proxy.http1_head import MAX_HEADER_LINES, MAX_INTERIM_RESPONSES, MAX_TRAILER_LINES

from .test_proxy_http1 import _front, _ok, raw_upstream  # noqa: F401  (raw_upstream: a fixture)


async def _raw_get(port: int, paths: list[str]) -> bytes:
    """Sends GETs for `paths` on ONE connection, then reads everything until the gateway closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in paths:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
        writer.write(b"GET /last HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def _split_replies(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(head, de-chunked or length-delimited body) per reply in `raw`; strict about framing."""
    replies = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        lengths = [line for line in lines if line.startswith(b"content-length:")]
        chunked = b"transfer-encoding: chunked" in lines
        assert not (lengths and chunked), head        # never both framings to the client
        if chunked:
            body = b""
            while True:
                size_line, _, raw = raw.partition(b"\r\n")
                size = int(size_line, 16)
                body, raw = body + raw[:size], raw[size + 2:]
                if size == 0:
                    break
        else:
            size = int(lengths[0].split(b":")[1]) if lengths else 0
            body, raw = raw[:size], raw[size:]
        replies.append((head, body))
    return replies


async def test_chunked_with_content_length_is_relayed_without_it_and_never_reused(aiohttp_client,
                                                                                  raw_upstream) -> None:
    """The upstream's Content-Length (3) is shorter than its chunked body (10 bytes): relayed with
    it, the client would read "abc" and take the rest as the start of the next reply."""
    def script(request: bytes, n: int) -> bytes:
        if b"/both" in request:
            return (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"a\r\nabcdefghij\r\n0\r\n\r\n")
        return _ok(b"next")

    recorder, port = await raw_upstream(script)
    client = await _front(aiohttp_client, port)
    replies = _split_replies(await _raw_get(client.port, ["/both", "/after"]))
    assert [body for _, body in replies] == [b"abcdefghij", b"next", b"next"]
    assert all(head.startswith(b"HTTP/1.1 200") for head, _ in replies)
    assert recorder.connections == 2          # the ambiguous connection was not reused


async def test_a_status_below_100_is_a_502_not_an_interim_answer(aiohttp_client, raw_upstream) -> None:
    recorder, port = await raw_upstream(
        lambda request, n: b"HTTP/1.1 042 Odd\r\n\r\n" + _ok(b"smuggled"))
    client = await _front(aiohttp_client, port)
    resp = await client.get("/v3/p/instances")
    assert resp.status == 502
    assert b"smuggled" not in await resp.read()


async def test_an_http10_reply_closes_its_connection(aiohttp_client, raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                                                           b"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
    client = await _front(aiohttp_client, port)
    for _ in range(2):
        resp = await client.get("/v3/p/instances")
        assert (resp.status, await resp.read()) == (200, b"x")
    assert recorder.connections == 2


async def test_interim_answers_are_capped(aiohttp_client, raw_upstream) -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"

    def script(request: bytes, n: int) -> bytes:
        count = MAX_INTERIM_RESPONSES + (1 if b"/many" in request else 0)
        return interim * count + _ok(b"final")

    recorder, port = await raw_upstream(script)
    client = await _front(aiohttp_client, port)
    ok = await client.get("/few")
    assert (ok.status, await ok.read()) == (200, b"final")
    assert (await client.get("/many")).status == 502


async def test_header_lines_are_capped(aiohttp_client, raw_upstream) -> None:
    def script(request: bytes, n: int) -> bytes:
        count = MAX_HEADER_LINES - 1 + (1 if b"/many" in request else 0)   # plus Content-Length
        return _ok(b"ok", b"X-A: 1\r\n" * count)

    recorder, port = await raw_upstream(script)
    client = await _front(aiohttp_client, port)
    assert (await client.get("/few")).status == 200
    assert (await client.get("/many")).status == 502


async def test_trailer_lines_are_capped_and_checked(aiohttp_client, raw_upstream) -> None:
    """Trailers come after a 200 head was relayed: a bad trailer section cuts the connection
    (the client sees an incomplete chunked body, never a clean end)."""
    def script(request: bytes, n: int) -> bytes:
        path = request.split(b" ")[1]
        trailers = {b"/few": b"X-T: 1\r\n" * MAX_TRAILER_LINES, b"/many": b"X-T: 1\r\n" * (MAX_TRAILER_LINES + 1),
                    b"/bad": b"Bad Name: 1\r\n"}[path]
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" + trailers + b"\r\n"

    recorder, port = await raw_upstream(script)
    client = await _front(aiohttp_client, port)
    good = _split_replies(await _raw_get(client.port, ["/few"]))
    assert good[0][1] == b"ok"
    for path in ("/many", "/bad"):
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200") and not raw.endswith(b"0\r\n\r\n"), raw
