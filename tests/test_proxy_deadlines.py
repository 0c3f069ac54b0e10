"""Upstream deadlines and admission, against raw-socket upstreams that dribble or stall.

`timeout_s` is the whole time from the request to the response head (and a body read whole):
a peer sending one byte now and then cannot stretch it. A streamed body only has the idle
`read_timeout_s`. A request that finds no connection gets 503 APIGW.0201 when the pool wait or
the pending cap says so, never a late 504."""
from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from gateway.proxy.admission import Admission, PoolBusy
from gateway.proxy.client import PoolLimits, UpstreamClient
from gateway.proxy.upstream_auth import NoUpstreamAuth

from .test_proxy_support import forwarding_app

Pieces = Callable[[bytes], list[tuple[float, bytes]]]   # request -> (delay before, bytes) to send


@pytest.fixture
async def dribbler() -> AsyncIterator[Callable[[Pieces], Awaitable[int]]]:
    """An upstream that answers each request with the script's pieces, sleeping between them."""
    servers: list[asyncio.base_events.Server] = []

    async def handle(script: Pieces, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                for delay, data in script(request):
                    await asyncio.sleep(delay)
                    writer.write(data)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def make(script: Pieces) -> int:
        server = await asyncio.start_server(lambda r, w: handle(script, r, w), "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield make
    for server in servers:
        server.close()


async def _front(aiohttp_client, port: int, *, timeout_s: float, limits: PoolLimits | None = None):  # type: ignore[no-untyped-def]
    proxy = UpstreamClient(f"http://127.0.0.1:{port}", NoUpstreamAuth(), connect_timeout_s=1.0,
                           timeout_s=timeout_s, limits=limits)
    await proxy.start()
    app = forwarding_app(proxy, request_id="rid-9", client_ip="198.51.100.1", legacy_by_path=False)
    app.on_cleanup.append(lambda _app: proxy.close())
    return await aiohttp_client(app)


def _spread(data: bytes, pieces: int, gap_s: float) -> list[tuple[float, bytes]]:
    size = -(-len(data) // pieces)
    return [(gap_s, data[i:i + size]) for i in range(0, len(data), size)]


async def test_a_head_dribbled_past_timeout_s_is_a_504(aiohttp_client, dribbler) -> None:
    """Eight pieces 0.1 s apart: every gap is far below timeout_s, their sum is not."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: " + b"p" * 40 + b"\r\n\r\nok"
    port = await dribbler(lambda request: _spread(head, 8, 0.1))
    client = await _front(aiohttp_client, port, timeout_s=0.3)
    resp = await client.get("/v3/p/instances")
    assert resp.status == 504
    assert json.loads(await resp.read())["error_msg"] == "Backend timeout."


async def test_a_small_body_read_whole_is_inside_the_same_deadline(aiohttp_client, dribbler) -> None:
    body = b"x" * 80
    port = await dribbler(lambda request: [(0, b"HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n"),
                                           *_spread(body, 8, 0.1)])
    client = await _front(aiohttp_client, port, timeout_s=0.3)
    assert (await client.get("/v3/p/instances")).status == 504


async def test_a_streamed_body_only_has_the_idle_read_timeout(aiohttp_client, dribbler) -> None:
    """A chunked body arriving steadily for longer than timeout_s is relayed whole."""
    chunks = [(0.1, b"5\r\nchunk\r\n") for _ in range(8)]
    port = await dribbler(lambda request: [(0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
                                           *chunks, (0.1, b"0\r\n\r\n")])
    client = await _front(aiohttp_client, port, timeout_s=0.3, limits=PoolLimits(read_timeout_s=2.0))
    resp = await client.get("/v3/p/instances")
    assert (resp.status, await resp.read()) == (200, b"chunk" * 8)


async def test_a_stalled_streamed_body_is_cut_after_the_idle_read_timeout(aiohttp_client, dribbler) -> None:
    port = await dribbler(lambda request: [(0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                               b"5\r\nchunk\r\n"), (30, b"0\r\n\r\n")])
    client = await _front(aiohttp_client, port, timeout_s=5.0, limits=PoolLimits(read_timeout_s=0.2))
    resp = await client.get("/v3/p/instances")
    assert resp.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):   # the gateway cuts the connection mid-body
        await resp.read()


async def test_no_free_connection_in_time_is_a_503_and_a_full_queue_is_one_at_once(aiohttp_client,
                                                                                  dribbler) -> None:
    def script(request: bytes) -> list[tuple[float, bytes]]:
        delay = 30 if b"/slow" in request else 0
        return [(delay, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]

    port = await dribbler(script)
    limits = PoolLimits(max_connections=1, max_pending=1, pool_timeout_s=0.2)
    client = await _front(aiohttp_client, port, timeout_s=60, limits=limits)
    slow = asyncio.ensure_future(client.get("/slow"))
    await asyncio.sleep(0.1)
    queued = asyncio.ensure_future(client.get("/queued"))       # waits up to pool_timeout_s
    await asyncio.sleep(0.05)
    overflow = await client.get("/overflow")                    # the one pending place is taken
    assert overflow.status == 503
    body = json.loads(await overflow.read())
    assert (body["error_code"], body["error_msg"]) == ("APIGW.0201", "Backend busy.")
    assert overflow.headers["Retry-After"] == "1"
    assert not queued.done()                                    # refused at once, before the queued one
    assert (await queued).status == 503
    slow.cancel()


async def test_admission_share_keeps_slots_for_other_routes() -> None:
    """Pure accounting: a route at its share waits; another route takes a free slot directly,
    and a released slot goes to the longest waiter that may take it."""
    loop = asyncio.get_running_loop()
    admission = Admission(total=4, per_route=3, max_pending=8, wait_s=5)
    for _ in range(3):
        await admission.acquire("slow", loop)
    waiting = asyncio.ensure_future(admission.acquire("slow", loop))
    await asyncio.sleep(0)
    assert not waiting.done() and admission.pending == 1
    await asyncio.wait_for(admission.acquire("fast", loop), 1)      # the fourth slot
    assert admission.in_use == 4
    admission.release("fast")                       # free, but "slow" is still at its share
    await asyncio.sleep(0)
    assert not waiting.done() and admission.in_use == 3
    admission.release("slow")
    await asyncio.wait_for(waiting, 1)
    assert admission.in_use == 3 and admission.pending == 0
    full = Admission(total=1, per_route=1, max_pending=0, wait_s=5)
    await full.acquire(None, loop)
    with pytest.raises(PoolBusy):
        await full.acquire(None, loop)      # no pending place at all: refused without waiting


async def test_a_cancelled_waiter_leaks_no_slot() -> None:
    loop = asyncio.get_running_loop()
    admission = Admission(total=1, per_route=1, max_pending=4, wait_s=5)
    await admission.acquire("a", loop)
    waiter = asyncio.ensure_future(admission.acquire("a", loop))
    await asyncio.sleep(0)
    admission.release("a")          # handed to the waiter...
    waiter.cancel()                 # ...which is cancelled before it runs: the slot is passed on
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert admission.in_use == 0
    await asyncio.wait_for(admission.acquire("a", loop), 1)
