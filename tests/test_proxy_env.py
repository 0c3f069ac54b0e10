"""HTTP(S)_PROXY / NO_PROXY for the upstream and the upstream IAM, through a real forward proxy
written here (CONNECT tunnels and absolute-form requests on a loopback socket), and
`trust_env: false` turning them off."""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp import web

from gateway.proxy.client import UpstreamClient
from gateway.config.model import UpstreamAuthConfig
from gateway.proxy.upstream_auth import NoUpstreamAuth, upstream_auth_from_config
from gateway.proxy.outgoing import OutgoingRequest

from .test_proxy_http1 import _ok, raw_upstream  # noqa: F401  (raw_upstream: a fixture)
from .test_proxy_support import forwarding_app
from .test_tls import self_signed


@dataclass
class TinyProxy:
    """A forward proxy: `CONNECT host:port` opens a tunnel; an absolute-form request is sent on
    in origin form. Every request line and its Proxy-Authorization are recorded."""

    seen: list[tuple[str, str | None]] = field(default_factory=list)
    refuse: bool = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            writer.close()
            return
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ")
        auth = next((line.split(":", 1)[1].strip() for line in lines
                     if line.lower().startswith("proxy-authorization:")), None)
        self.seen.append((f"{method} {target}", auth))
        if self.refuse:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = b""
        else:
            scheme_host, _, path = target.partition("://")[2].partition("/")
            host, port = scheme_host.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            kept = [line for line in lines if line and not line.lower().startswith("proxy-authorization:")]
            rest = ("\r\n".join([f"{method} /{path} {version}", *kept]) + "\r\n\r\n").encode("latin-1")
        up_writer.write(rest)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def tiny_proxy() -> AsyncIterator[tuple[TinyProxy, int]]:
    proxy = TinyProxy()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    yield proxy, int(server.sockets[0].getsockname()[1])
    server.close()


async def _get(aiohttp_client, base_url: str, *, trust_env: bool = True) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    upstream = UpstreamClient(base_url, NoUpstreamAuth(), connect_timeout_s=2.0, timeout_s=2.0, trust_env=trust_env)
    await upstream.start()
    try:
        client = await aiohttp_client(forwarding_app(upstream, request_id="rid-p", client_ip="198.51.100.1",
                                                     legacy_by_path=False))
        resp = await client.get("/v3/p/instances?x=1")
        return resp.status, await resp.read()
    finally:
        await upstream.close()


async def test_http_upstream_goes_through_http_proxy_in_absolute_form(aiohttp_client, raw_upstream, tiny_proxy,
                                                                      monkeypatch) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b"via proxy"))
    proxy, proxy_port = tiny_proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://ops:s%3Acret@127.0.0.1:{proxy_port}")
    assert await _get(aiohttp_client, f"http://127.0.0.1:{port}") == (200, b"via proxy")
    assert proxy.seen == [(f"GET http://127.0.0.1:{port}/v3/p/instances?x=1", "Basic b3BzOnM6Y3JldA==")]
    assert recorder.requests[0].startswith(b"GET /v3/p/instances?x=1 HTTP/1.1\r\n")
    assert b"proxy-authorization" not in recorder.requests[0].lower()   # the proxy took it off


async def test_no_proxy_and_trust_env_false_go_direct(aiohttp_client, raw_upstream, tiny_proxy, monkeypatch) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b"direct"))
    proxy, proxy_port = tiny_proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
    assert await _get(aiohttp_client, f"http://127.0.0.1:{port}", trust_env=False) == (200, b"direct")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert await _get(aiohttp_client, f"http://127.0.0.1:{port}") == (200, b"direct")
    assert proxy.seen == [] and len(recorder.requests) == 2


async def test_https_upstream_is_tunnelled_with_connect_and_verified(aiohttp_client, aiohttp_server, tiny_proxy,
                                                                     tmp_path: Path, monkeypatch) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(cert), str(key))
    async def over_tls(request: web.Request) -> web.Response:
        return web.Response(text=f"tls {request.path_qs}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", over_tls)
    server = await aiohttp_server(app, ssl=server_tls)
    proxy, proxy_port = tiny_proxy
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
    assert (await _get(aiohttp_client, f"https://127.0.0.1:{server.port}"))[0] == 502   # not trusted yet
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    assert await _get(aiohttp_client, f"https://127.0.0.1:{server.port}") == (200, b"tls /v3/p/instances?x=1")
    # the refused certificate: a GET is tried twice (a failed connect is retried once); then one
    assert [line for line, _ in proxy.seen] == [f"CONNECT 127.0.0.1:{server.port}"] * 3


async def test_a_proxy_refusing_connect_is_a_502(aiohttp_client, tiny_proxy, monkeypatch) -> None:
    proxy, proxy_port = tiny_proxy
    proxy.refuse = True
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
    assert (await _get(aiohttp_client, "https://127.0.0.1:9"))[0] == 502


def _Cfg(iam_url: str) -> UpstreamAuthConfig:
    return UpstreamAuthConfig(mode="token", iam_url=iam_url, user_name="gw", password="gw-pass",
                              domain_name="acme", project_id="p1", project_name=None)


async def test_the_upstream_iam_is_reached_through_the_proxy_unless_trust_env_is_off(aiohttp_server, tiny_proxy,
                                                                                     monkeypatch) -> None:
    async def tokens(request: web.Request) -> web.Response:
        return web.json_response({"token": {"expires_at": "2099-01-01T00:00:00Z"}}, status=201,
                                 headers={"X-Subject-Token": "tok-1"})

    app = web.Application()
    app.router.add_post("/v3/auth/tokens", tokens)
    iam = await aiohttp_server(app)
    proxy, proxy_port = tiny_proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
    out = OutgoingRequest("GET", "/v3/p/instances", "", (), None, None)
    for trust_env, expected in ((False, 0), (True, 1)):
        auth = upstream_auth_from_config(_Cfg(str(iam.make_url(""))), trust_env=trust_env,
                                         clock=lambda: datetime.now(timezone.utc))
        try:
            applied = await auth.apply(out)
        finally:
            await auth.close()
        assert ("X-Auth-Token", "tok-1") in applied.headers
        assert len(proxy.seen) == expected
    assert proxy.seen[0][0].startswith(f"POST http://127.0.0.1:{iam.port}/v3/auth/tokens")
