"""The proxy stage against a real upstream on 127.0.0.1: forwarding, streaming, failures, errors."""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from gateway.errors import JSON_CONTENT_TYPE
from gateway.proxy.client import UpstreamClient
from gateway.proxy.upstream_auth import NoUpstreamAuth, PassthroughUpstreamAuth, UpstreamAuth

from .test_proxy_support import forwarding_app

CREDENTIALS = {"Authorization": "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00",
               "X-Auth-Token": "client-token", "X-Security-Token": "sts", "X-Sdk-Date": "20260101T000000Z",
               "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}


@dataclass
class Arrival:
    method: str
    raw_path: str
    headers: list[tuple[str, str]]
    body_sha256: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Upstream:
    """A recording DDM stand-in; the path picks the behaviour."""

    arrivals: list[Arrival] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    error_reply: tuple[int, str, bytes, dict[str, str]] = (400, "application/json", b"", {})
    BEHAVIOURS = frozenset({"empty", "gzip", "error", "big", "slow", "stall", "drop"})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.arrivals.append(Arrival(request.method, request.raw_path, list(request.headers.items()),
                                     hashlib.sha256(body).hexdigest()))
        kinds = [segment for segment in request.path.split("/") if segment in self.BEHAVIOURS]
        return await getattr(self, f"_{kinds[0]}" if kinds else "_ok")(request, body)

    async def _ok(self, request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.Response(status=201, body=b"echo:" + body, content_type="application/octet-stream",
                                headers={"X-Upstream": "yes", "Keep-Alive": "timeout=5", "X-Request-Id": "up"})
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response

    async def _empty(self, request: web.Request, body: bytes) -> web.StreamResponse:
        return web.Response(status=204, headers={"X-Upstream": "empty"})

    async def _gzip(self, request: web.Request, body: bytes) -> web.StreamResponse:
        return web.Response(body=gzip.compress(b"compressed payload"), headers={"Content-Encoding": "gzip"})

    async def _error(self, request: web.Request, body: bytes) -> web.StreamResponse:
        status, content_type, payload, headers = self.error_reply
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type, **headers})

    async def _big(self, request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        for index in range(80):
            await response.write(bytes([index]) * 65536)
        await response.write_eof()
        return response

    async def _slow(self, request: web.Request, body: bytes) -> web.StreamResponse:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return web.Response(text="late")

    async def _stall(self, request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"x" * 10)
        await asyncio.sleep(30)
        return response

    async def _drop(self, request: web.Request, body: bytes) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()  # dies mid-request: the request arrived, no answer ever leaves
        await asyncio.sleep(1)
        return web.Response()


Front = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def upstream(aiohttp_server) -> AsyncIterator[tuple[Upstream, TestServer]]:  # type: ignore[no-untyped-def]
    recorder = Upstream()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    server = await aiohttp_server(app)
    yield recorder, server


@pytest.fixture
async def front(aiohttp_client) -> AsyncIterator[Front]:  # type: ignore[no-untyped-def]
    """A minimal gateway: forward everything, turn GatewayError into the normalized body."""
    started: list[UpstreamClient] = []

    async def make(base_url: str, *, auth: UpstreamAuth | None = None, buffer: bool = False,
                   connect_timeout_s: float = 1.0, timeout_s: float = 2.0, retry: bool = True) -> TestClient:
        proxy = UpstreamClient(base_url, auth or NoUpstreamAuth(), connect_timeout_s=connect_timeout_s,
                               timeout_s=timeout_s, retry_idempotent=retry)
        await proxy.start()
        started.append(proxy)

        app = forwarding_app(proxy, request_id="rid-42", project_id="p1", client_ip="203.0.113.9",
                             buffer=buffer, client_max_size=64 * 1024 * 1024)
        return await aiohttp_client(app, auto_decompress=False)

    yield make
    for proxy in started:
        await proxy.close()


def raw_url(client: TestClient, target: str) -> URL:
    """The target sent exactly as written (the test client would normalize `%7E` to `~`)."""
    return URL(f"http://127.0.0.1:{client.port}{target}", encoded=True)


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.mark.parametrize("buffer", [False, True], ids=["streamed", "buffered"])
async def test_forwarding_is_byte_exact_and_strips_credentials(upstream, front, buffer: bool) -> None:
    recorder, server = upstream
    client = await front(base(server), buffer=buffer)
    body = os.urandom(300_000)
    target = "/v3/p1/instances/a%7Eb%20c/x~y?n=9&n=10&x=%E4%B8%AD&flag&empty=&q=a%2Fb"
    headers = {**CREDENTIALS, "Content-Type": "application/octet-stream", "X-Custom": "kept",
               "Connection": "keep-alive, X-Hop", "X-Hop": "dropped", "X-Forwarded-For": "6.6.6.6",
               "X-Request-Id": "client-chosen", "Proxy-Authorization": "Basic eA=="}
    resp = await client.session.post(raw_url(client, target), data=body, headers=headers)
    assert resp.status == 201
    assert await resp.read() == b"echo:" + body
    seen = recorder.arrivals[-1]
    assert (seen.method, seen.raw_path, seen.body_sha256) == ("POST", target, hashlib.sha256(body).hexdigest())
    names = {name.lower() for name, _ in seen.headers}
    assert not names & {"authorization", "x-auth-token", "x-security-token", "x-sdk-date", "x-sdk-content-sha256",
                        "x-hop", "proxy-authorization"}
    assert seen.header("X-Custom") == "kept"
    assert seen.header("Host") == f"127.0.0.1:{server.port}"
    assert seen.header("X-Request-Id") == "rid-42"
    assert seen.header("X-Forwarded-For") == "203.0.113.9"
    assert seen.header("X-Forwarded-Proto") == "http"
    assert seen.header("X-Forwarded-Host") == f"127.0.0.1:{client.port}"
    assert seen.header("Content-Type") == "application/octet-stream"
    assert seen.header("Content-Length") == str(len(body))
    # the response: unchanged status, headers and body, minus hop-by-hop, with our request id
    assert resp.headers["X-Upstream"] == "yes"
    assert resp.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    assert "Keep-Alive" not in resp.headers
    assert resp.headers["X-Request-Id"] == "rid-42"


async def test_chunked_client_body_is_streamed_chunked(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server))

    async def pieces() -> AsyncIterator[bytes]:
        for index in range(5):
            yield bytes([index]) * 10_000

    resp = await client.put("/v3/p1/instances/i", data=pieces())
    assert resp.status == 201
    expected = b"".join(bytes([index]) * 10_000 for index in range(5))
    assert recorder.arrivals[-1].body_sha256 == hashlib.sha256(expected).hexdigest()


async def test_get_without_body_gains_no_body_headers(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server), buffer=True)
    resp = await client.get("/v3/p1/instances?offset=0&limit=10", skip_auto_headers=["User-Agent"])
    assert resp.status == 201
    seen = recorder.arrivals[-1]
    assert seen.raw_path == "/v3/p1/instances?offset=0&limit=10"
    names = {name.lower() for name, _ in seen.headers}
    assert not names & {"content-length", "transfer-encoding", "content-type", "user-agent"}


async def test_passthrough_keeps_client_credentials(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server), auth=PassthroughUpstreamAuth())
    await client.get("/v3/p1/instances", headers=CREDENTIALS)
    seen = recorder.arrivals[-1]
    assert all(seen.header(name) == value for name, value in CREDENTIALS.items())


async def test_base_url_path_prefix_is_kept(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server) + "/ddm/")
    await client.get("/v3/p1/instances?a=1")
    assert recorder.arrivals[-1].raw_path == "/ddm/v3/p1/instances?a=1"


async def test_success_bodies_stream_unchanged(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server))
    resp = await client.get("/big")
    expected = b"".join(bytes([index]) * 65536 for index in range(80))
    assert hashlib.sha256(await resp.read()).digest() == hashlib.sha256(expected).digest()
    gz = await client.get("/gzip", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await gz.read()) == b"compressed payload"


async def test_head_and_no_content_responses(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server))
    head = await client.head("/v3/p1/instances")
    assert (head.status, head.headers["Content-Length"], await head.read()) == (201, str(len(b"echo:")), b"")
    assert recorder.arrivals[-1].method == "HEAD"
    empty = await client.delete("/empty/v3/p1/instances/i")
    assert (empty.status, empty.headers["X-Upstream"], await empty.read()) == (204, "empty", b"")
    again = await client.get("/v3/p1/instances")  # the keep-alive connections are still healthy
    assert again.status == 201


ERROR_CASES = [
    ("v1 shape", "/v1/p1/instances/error", 400, "application/json",
     b'{"externalMessage":"Parameter error.","errCode":"DBS.280001"}', ("DBS.280001", "Parameter error.")),
    ("v3 shape", "/v3/p1/error", 404, "application/json;charset=UTF-8",
     b'{"error_code":"DBS.200823","error_msg":"Instance not found."}', ("DBS.200823", "Instance not found.")),
    ("errorCode", "/v3/p1/error", 409, "application/json", b'{"errorCode":"E.1","errorMsg":"busy"}', ("E.1", "busy")),
    ("code/message", "/v2/p1/error", 403, "application/json", b'{"code":"C.1","message":"no"}', ("C.1", "no")),
    ("keystone", "/v3/p1/error", 401, "application/json",
     b'{"error":{"code":401,"title":"Unauthorized","message":"auth needed"}}', ("DBS.280001", "auth needed")),
    ("html 502", "/v3/p1/error", 502, "text/html", b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
     ("DBS.200412", "502 Bad Gateway nginx")),
    ("empty 503", "/v3/p1/error", 503, "text/plain", b"", ("DBS.200412", "Service Unavailable")),
    ("lying type", "/v3/p1/error", 500, "text/html", b'{"error_code":"DBS.1","error_msg":"json"}', ("DBS.1", "json")),
]


@pytest.mark.parametrize(("path", "status", "content_type", "payload", "expected"),
                         [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES])
async def test_upstream_errors_are_normalized(upstream, front, path: str, status: int, content_type: str,
                                              payload: bytes, expected: tuple[str, str]) -> None:
    recorder, server = upstream
    recorder.error_reply = (status, content_type, payload, {"Retry-After": "3", "X-Secret-Internal": "x"})
    client = await front(base(server))
    resp = await client.get(path)
    assert resp.status == status
    assert resp.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert resp.headers["X-Request-Id"] == "rid-42"
    assert resp.headers["Retry-After"] == "3"
    document = json.loads(await resp.read())
    code, message = expected
    want = {"error_code": code, "error_msg": message, "request_id": "rid-42"}
    if path.startswith(("/v1/", "/v2/")):
        want.update(errCode=code, externalMessage=message)
    assert document == want


async def test_compressed_and_huge_error_bodies(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server))
    recorder.error_reply = (400, "application/json", gzip.compress(b'{"code":"Z.1","message":"zipped"}'),
                            {"Content-Encoding": "gzip"})
    resp = await client.get("/v3/p1/error")
    assert json.loads(await resp.read())["error_code"] == "Z.1"
    recorder.error_reply = (500, "text/plain", b"A" * (20 * 1024 * 1024), {})
    started = time.monotonic()
    resp = await client.get("/v3/p1/error")
    document = json.loads(await resp.read())
    assert (resp.status, document["error_code"], len(document["error_msg"])) == (500, "DBS.200412", 512)
    assert time.monotonic() - started < 5
    ok = await client.get("/v3/p1/instances")  # the pool survived the half-read connection
    assert ok.status == 201


async def test_refused_connection_is_502_quickly(front) -> None:
    client = await front(f"http://127.0.0.1:{_closed_port()}", connect_timeout_s=1.0)
    started = time.monotonic()
    resp = await client.post("/v1/p1/instances", data=b"{}")
    assert resp.status == 502
    assert json.loads(await resp.read()) == {
        "error_code": "APIGW.0201", "error_msg": "Backend unavailable.", "request_id": "rid-42",
        "errCode": "APIGW.0201", "externalMessage": "Backend unavailable."}
    assert time.monotonic() - started < 1.0


async def test_connect_timeout_is_502_within_the_connect_timeout(front) -> None:
    with _unanswering_listener() as port:
        client = await front(f"http://127.0.0.1:{port}", connect_timeout_s=0.3, timeout_s=5.0)
        started = time.monotonic()
        resp = await client.get("/v3/p1/instances")
        elapsed = time.monotonic() - started
    assert resp.status == 502
    assert json.loads(await resp.read())["error_msg"] == "Backend unavailable."
    assert elapsed < 1.5


async def test_no_answer_is_504_within_timeout(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server), timeout_s=0.3)
    started = time.monotonic()
    resp = await client.get("/slow")
    elapsed = time.monotonic() - started
    assert resp.status == 504
    assert json.loads(await resp.read())["error_msg"] == "Backend timeout."
    assert 0.25 < elapsed < 1.5
    assert len(recorder.arrivals) == 1  # timeouts are not retried


async def test_post_reaches_upstream_at_most_once_when_it_dies(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server))
    assert (await client.get("/v3/p1/instances")).status == 201  # a pooled keep-alive connection now exists
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        before = len(recorder.arrivals)
        resp = await client.request(method, "/drop/v3/p1/instances", data=b'{"x":1}')
        assert resp.status == 502, method
        assert len(recorder.arrivals) - before == 1, method


@pytest.mark.parametrize(("retry", "expected_arrivals"), [(True, 2), (False, 1)])
async def test_get_is_retried_once_when_configured(upstream, front, retry: bool, expected_arrivals: int) -> None:
    recorder, server = upstream
    client = await front(base(server), retry=retry)
    resp = await client.get("/drop/v3/p1/instances")
    assert resp.status == 502
    assert len(recorder.arrivals) == expected_arrivals


async def test_upstream_stalling_mid_small_body_is_a_504(upstream, front) -> None:
    """A small body is read whole before anything is sent, within timeout_s: nothing reached
    the client yet, so the answer is a clean 504 (a streamed body is cut instead:
    test_proxy_deadlines.py)."""
    recorder, server = upstream
    client = await front(base(server), timeout_s=0.3)
    resp = await client.get("/stall")
    assert resp.status == 504


async def test_client_disconnect_cancels_the_upstream_request(upstream, front) -> None:
    recorder, server = upstream
    client = await front(base(server))
    with pytest.raises(asyncio.TimeoutError):
        await client.get("/slow", timeout=aiohttp.ClientTimeout(total=0.2))
    await asyncio.wait_for(recorder.cancelled.wait(), timeout=2)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _unanswering_listener:
    """A listener whose accept queue is full: new connects hang in SYN, like a dead host."""

    def __enter__(self) -> int:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        port = int(self.listener.getsockname()[1])
        self.fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            self.fillers.append(filler)
        return port

    def __exit__(self, *exc: object) -> None:
        for filler in self.fillers:
            filler.close()
        self.listener.close()
