"""Upstream authentication modes, end to end through UpstreamClient against real servers."""
from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, AsyncIterator
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

import signer
from gateway.proxy.client import UpstreamClient
from gateway.proxy.outgoing import OutgoingRequest
from gateway.proxy.upstream_auth import (AkSkUpstreamAuth, NoUpstreamAuth, PassthroughUpstreamAuth,
                                         TokenUpstreamAuth, UpstreamAuth, upstream_auth_from_config)

from .test_proxy_support import forwarding_app

AK, SK = "UPSTREAMAK0000000001", "upstream-secret-key-0123456789abcdef"
T0 = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)


class Clock:
    """An injected clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class VerifyingUpstream:
    """A DDM stand-in that checks the gateway's AK/SK signature with the project's verifier."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.seen: list[tuple[web.Request, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request, body))
        path, _, query = request.raw_path.partition("?")
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            auth = signer.parse_authorization(request.headers.get("Authorization", ""))
            signer.verify(signer.SignableRequest(request.method, path, query, headers, body), auth, SK,
                          now=self.clock())
        except signer.SignatureError as err:
            return web.json_response({"error_code": "APIGW.0301", "error_msg": str(err)}, status=401)
        return web.Response(status=200, body=b"verified:" + hashlib.sha256(body).hexdigest().encode())


async def _serve(aiohttp_server: Any, handler: Any) -> TestServer:
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    return await aiohttp_server(app)


async def _front(aiohttp_client: Any, proxy: UpstreamClient, *, buffer: bool = False) -> TestClient:
    return await aiohttp_client(forwarding_app(proxy, request_id="rid-7", project_id="p1",
                                               client_ip="198.51.100.1", buffer=buffer, legacy_by_path=False))


@pytest.fixture
async def started() -> AsyncIterator[list[UpstreamClient]]:
    proxies: list[UpstreamClient] = []
    yield proxies
    for proxy in proxies:
        await proxy.close()


async def _proxy(base_url: str, auth: UpstreamAuth, started: list[UpstreamClient], **kwargs: Any) -> UpstreamClient:
    proxy = UpstreamClient(base_url, auth, connect_timeout_s=1, timeout_s=3, **kwargs)
    await proxy.start()
    started.append(proxy)
    return proxy


def _sdk_signature(request: web.Request, body: bytes) -> str:
    """Recompute the signature with the official SDK's signer over what arrived (independent check)."""
    auth = signer.parse_authorization(request.headers["Authorization"])
    path, _, query = request.raw_path.partition("?")
    sdk_request = SdkRequest(
        method=request.method, schema="http", host=request.host, resource_path=path,
        query_params=parse_qsl(query, keep_blank_values=True),
        header_params={name: request.headers[name] for name in auth.signed_headers}, body=body)
    signed = Signer(SimpleNamespace(ak=AK, sk=SK)).sign(sdk_request)
    return signed.header_params["Authorization"]


@pytest.mark.parametrize(("content_type", "buffer"), [
    ("application/json;charset=UTF-8", False), ("application/json", True), ("application/octet-stream", False)])
async def test_aksk_resigns_so_the_upstream_verifies(aiohttp_server, aiohttp_client, started,
                                                     content_type: str, buffer: bool) -> None:
    clock = Clock(T0)
    upstream = VerifyingUpstream(clock)
    server = await _serve(aiohttp_server, upstream.handle)
    proxy = await _proxy(str(server.make_url("")), AkSkUpstreamAuth(AK, SK, clock=clock), started)
    client = await _front(aiohttp_client, proxy, buffer=buffer)
    body = json.dumps({"name": "ddm-1", "padding": "x" * 5000}).encode()
    resp = await client.post("/v3/p1/instances?limit=2&marker=abc&name=%E4%B8%AD", data=body,
                             headers={"Content-Type": content_type, "X-Auth-Token": "client-token",
                                      "X-Project-Id": "spoofed", "User-Agent": "huaweicloud-usdk-python/3.0"})
    assert resp.status == 200, await resp.text()
    assert await resp.read() == b"verified:" + hashlib.sha256(body).hexdigest().encode()
    request, received = upstream.seen[-1]
    assert request.headers.getall("X-Project-Id") == ["p1"]
    assert "X-Auth-Token" not in request.headers
    auth = signer.parse_authorization(request.headers["Authorization"])
    assert auth.access_key == AK
    assert {"host", "x-project-id", "x-sdk-date", "content-type"} <= set(auth.signed_headers)
    assert _sdk_signature(request, received) == request.headers["Authorization"]


async def test_aksk_signature_with_repeated_numeric_query_and_odd_path(aiohttp_server, aiohttp_client,
                                                                       started) -> None:
    clock = Clock(T0)
    upstream = VerifyingUpstream(clock)
    server = await _serve(aiohttp_server, upstream.handle)
    proxy = await _proxy(str(server.make_url("")), AkSkUpstreamAuth(AK, SK, clock=clock), started)
    client = await _front(aiohttp_client, proxy)
    resp = await client.get("/v3/p1/instances/a~b/databases?n=9&n=10&x=%E4%B8%AD&flag=")
    assert resp.status == 200, await resp.text()
    clock.now = T0 + timedelta(hours=1)  # the upstream's verifier rejects a stale signature...
    resp = await client.get("/v3/p1/instances")
    assert resp.status == 200, await resp.text()  # ...and the gateway signs with the current time


async def test_aksk_body_over_the_limit_is_413_before_reading_it_all(aiohttp_server, aiohttp_client,
                                                                     started) -> None:
    clock = Clock(T0)
    upstream = VerifyingUpstream(clock)
    server = await _serve(aiohttp_server, upstream.handle)
    proxy = await _proxy(str(server.make_url("")), AkSkUpstreamAuth(AK, SK, clock=clock), started,
                         max_body_bytes=1000)
    client = await _front(aiohttp_client, proxy)
    resp = await client.post("/v3/p1/instances", data=b"{" + b" " * 5000 + b"}")
    assert resp.status == 413
    assert json.loads(await resp.read())["error_code"] == "APIGW.0201"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: stopped after limit + 1 bytes
        for _ in range(100):
            yield b" " * 100

    resp = await client.post("/v3/p1/instances", data=chunked())
    assert resp.status == 413
    assert upstream.seen == []
    ok = await client.post("/v3/p1/instances", data=b"{}", headers={"Content-Type": "application/json"})
    assert ok.status == 200


class FakeIam:
    """Huawei IAM's password-token endpoint, counting how often the gateway asks."""

    def __init__(self, clock: Clock, lifetime: timedelta = timedelta(hours=24)) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.bodies: list[dict[str, Any]] = []
        self.fail = False
        self.revoked: set[str] = set()

    async def handle(self, request: web.Request) -> web.Response:
        assert request.path == "/v3/auth/tokens" and request.method == "POST"
        self.calls += 1
        self.bodies.append(await request.json())
        await asyncio.sleep(0.05)  # long enough for every concurrent request to pile up
        if self.fail:
            return web.json_response({"error": {"code": 401, "message": "bad password"}}, status=401)
        expires = (self.clock() + self.lifetime).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return web.json_response({"token": {"expires_at": expires, "methods": ["password"]}}, status=201,
                                 headers={"X-Subject-Token": f"tok-{self.calls}"})


async def _token_setup(aiohttp_server: Any, aiohttp_client: Any, started: list[UpstreamClient],
                       clock: Clock) -> tuple[FakeIam, list[str], TestClient, TokenUpstreamAuth]:
    iam = FakeIam(clock)
    iam_server = await _serve(aiohttp_server, iam.handle)
    tokens_seen: list[str] = []

    async def ddm(request: web.Request) -> web.Response:
        tokens_seen.extend(request.headers.getall("X-Auth-Token", []))
        if request.headers.get("X-Auth-Token") in iam.revoked:
            return web.json_response({"error_code": "APIGW.0307", "error_msg": "The token must be updated."},
                                     status=401)
        return web.Response(text="ok")

    ddm_server = await _serve(aiohttp_server, ddm)
    auth = TokenUpstreamAuth(aiohttp.ClientSession, iam_url=str(iam_server.make_url("")),
                             user_name="gw", password="gw-pass", domain_name="acme", project_id="p1",
                             clock=clock, refresh_margin_s=300)
    proxy = await _proxy(str(ddm_server.make_url("")), auth, started)
    return iam, tokens_seen, await _front(aiohttp_client, proxy), auth


async def test_token_mode_fetches_once_under_100_concurrent_requests(aiohttp_server, aiohttp_client,
                                                                     started) -> None:
    clock = Clock(T0)
    iam, tokens_seen, client, _ = await _token_setup(aiohttp_server, aiohttp_client, started, clock)

    async def one() -> int:
        resp = await client.get("/v3/p1/instances", headers={"X-Auth-Token": "client-token"})
        await resp.read()
        return resp.status

    assert await asyncio.gather(*(one() for _ in range(100))) == [200] * 100
    assert iam.calls == 1
    assert tokens_seen == ["tok-1"] * 100  # one token header each, never the client's
    assert iam.bodies[0] == {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "gw", "password": "gw-pass", "domain": {"name": "acme"}}}},
        "scope": {"project": {"id": "p1"}}}}


async def test_token_refreshes_before_expiry_in_the_background(aiohttp_server, aiohttp_client, started) -> None:
    clock = Clock(T0)
    iam, tokens_seen, client, auth = await _token_setup(aiohttp_server, aiohttp_client, started, clock)
    await (await client.get("/v3/p1/instances")).read()
    clock.now = T0 + timedelta(hours=24) - timedelta(seconds=200)  # inside the 300 s margin
    statuses = await asyncio.gather(*(client.get("/v3/p1/instances") for _ in range(50)))
    assert [r.status for r in statuses] == [200] * 50
    assert tokens_seen[-50:] == ["tok-1"] * 50  # nobody waited: the old token is still valid
    for _ in range(100):  # the single background refresh lands
        if await auth.current_token() == "tok-2":
            break
        await asyncio.sleep(0.01)
    assert iam.calls == 2
    clock.now = T0 + timedelta(hours=50)  # tok-2 expired: everyone waits for one refresh
    results = await asyncio.gather(*(auth.current_token() for _ in range(100)))
    assert results == ["tok-3"] * 100 and iam.calls == 3


async def test_token_failure_is_502_and_retried_later(aiohttp_server, aiohttp_client, started) -> None:
    clock = Clock(T0)
    iam, _, client, _ = await _token_setup(aiohttp_server, aiohttp_client, started, clock)
    iam.fail = True
    responses = await asyncio.gather(*(client.get("/v3/p1/instances") for _ in range(10)))
    assert [r.status for r in responses] == [502] * 10
    assert iam.calls == 1
    assert "gw-pass" not in await responses[0].text()
    iam.fail = False
    assert (await client.get("/v3/p1/instances")).status == 200
    assert iam.calls == 2


async def test_token_refused_by_ddm_is_dropped_and_fetched_anew(aiohttp_server, aiohttp_client, started) -> None:
    clock = Clock(T0)
    iam, tokens_seen, client, _ = await _token_setup(aiohttp_server, aiohttp_client, started, clock)
    assert (await client.get("/v3/p1/instances")).status == 200
    iam.revoked.add("tok-1")
    refused = await client.post("/v3/p1/instances", data=b"{}")
    assert refused.status == 401  # the refused request itself is not retried (it is a POST)
    assert json.loads(await refused.read())["error_code"] == "APIGW.0307"
    assert (await client.get("/v3/p1/instances")).status == 200
    assert tokens_seen == ["tok-1", "tok-1", "tok-2"] and iam.calls == 2


async def test_passthrough_and_none_change_nothing() -> None:
    out = OutgoingRequest("GET", "/v3/p1/x", "a=1", (("X-Auth-Token", "t"),), None, "p1")
    assert await PassthroughUpstreamAuth().apply(out) == out
    assert await NoUpstreamAuth().apply(out) == out
    assert PassthroughUpstreamAuth.keeps_client_credentials and not NoUpstreamAuth.keeps_client_credentials


def test_upstream_auth_from_config() -> None:
    from gateway.config.model import UpstreamAuthConfig
    base = dict(ak=AK, sk=SK, iam_url="http://127.0.0.1:1", user_name="u", password="pw",
                domain_name="d", project_name="cn-north-4", project_id=None)
    assert isinstance(upstream_auth_from_config(UpstreamAuthConfig(mode="aksk", **base)), AkSkUpstreamAuth)
    token = upstream_auth_from_config(UpstreamAuthConfig(mode="token", **base))
    assert isinstance(token, TokenUpstreamAuth)
    assert isinstance(upstream_auth_from_config(UpstreamAuthConfig(mode="passthrough", **base)), PassthroughUpstreamAuth)
    assert isinstance(upstream_auth_from_config(UpstreamAuthConfig(mode="none", **base)), NoUpstreamAuth)
    with pytest.raises(ValueError, match="upstream.auth.mode"):
        upstream_auth_from_config(UpstreamAuthConfig(mode="kerberos", **base))
    for auth in (upstream_auth_from_config(UpstreamAuthConfig(mode="aksk", **base)), token):
        assert SK not in repr(auth) and "pw" not in repr(auth).replace("http", "")
