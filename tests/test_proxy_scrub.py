"""The gateway's own upstream credentials never reach a client: a DDM (here a raw upstream) that
reflects the service token or the AK/SK signature in a header, a cookie or an error message has
them dropped or redacted before the answer leaves the gateway."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from aiohttp import web

from gateway.proxy.client import UpstreamClient
from gateway.proxy.upstream_auth import AkSkUpstreamAuth, TokenUpstreamAuth

from .test_proxy_http1 import raw_upstream  # noqa: F401  (a fixture)
from .test_proxy_support import forwarding_app

TOKEN = "MIIaB-gateway-service-token-0123456789abcdef+/="


def _reflect(header: bytes):  # type: ignore[no-untyped-def]
    """A DDM that echoes the request's `header` value back: in headers on 200, in the message on 400."""
    def script(request: bytes, n: int) -> bytes:
        match = re.search(rb"\r\n" + header + rb": ([^\r]*)", request, re.I)
        value = match.group(1) if match else b"none"
        if b"/fail" in request:
            body = json.dumps({"error_code": "DBS.0001", "error_msg": f"bad credential {value.decode()}"}).encode()
            if b"/fail-escaped" in request:   # JSON may spell "/" as "\/": the raw bytes differ
                body = body.replace(b"/", b"\\/")
            status = b"400 Bad Request"
        else:
            body, status = b"ok", b"200 OK"
        return (b"HTTP/1.1 " + status + b"\r\nX-Echo: " + value + b"\r\nSet-Cookie: s=" + value +
                b"; Path=/\r\nSet-Cookie: lang=zh; Path=/\r\nX-Kept: yes\r\nContent-Type: application/json"
                b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return script


async def _front(aiohttp_client, aiohttp_server, port: int, auth):  # type: ignore[no-untyped-def]
    upstream = UpstreamClient(f"http://127.0.0.1:{port}", auth, connect_timeout_s=1.0, timeout_s=2.0)
    await upstream.start()
    app = forwarding_app(upstream, request_id="rid-s", client_ip="198.51.100.1", legacy_by_path=False)
    app.on_cleanup.append(lambda _app: upstream.close())
    return await aiohttp_client(app)


async def _iam(aiohttp_server) -> str:  # type: ignore[no-untyped-def]
    async def tokens(request: web.Request) -> web.Response:
        return web.json_response({"token": {"expires_at": "2099-01-01T00:00:00Z"}}, status=201,
                                 headers={"X-Subject-Token": TOKEN})
    app = web.Application()
    app.router.add_post("/v3/auth/tokens", tokens)
    return str((await aiohttp_server(app)).make_url(""))


async def test_a_reflected_service_token_is_dropped_and_redacted(aiohttp_client, aiohttp_server, raw_upstream) -> None:
    recorder, port = await raw_upstream(_reflect(b"X-Auth-Token"))
    auth = TokenUpstreamAuth(lambda: __import__("aiohttp").ClientSession(), iam_url=await _iam(aiohttp_server),
                             user_name="gw", password="gw-pass", domain_name="acme", project_id="p1",
                             clock=lambda: datetime.now(timezone.utc))
    client = await _front(aiohttp_client, aiohttp_server, port, auth)
    for path in ("/v3/p/instances", "/v3/p/fail", "/v3/p/fail-escaped"):
        resp = await client.get(path)
        raw = "\n".join(f"{k}: {v}" for k, v in resp.headers.items()) + (await resp.read()).decode()
        assert TOKEN not in raw and TOKEN[:20] not in raw, raw
        assert "X-Echo" not in resp.headers
        assert resp.headers.getall("Set-Cookie", []) in (["lang=zh; Path=/"], [])   # only the echo goes
        assert resp.headers.get("X-Kept") in ("yes", None)      # the error path keeps only a few
    assert json.loads(await (await client.get("/v3/p/fail")).read())["error_msg"] == "bad credential [redacted]"
    assert all(TOKEN.encode() in request for request in recorder.requests)   # DDM did get it


async def test_a_reflected_aksk_signature_is_dropped_and_redacted(aiohttp_client, aiohttp_server, raw_upstream) -> None:
    recorder, port = await raw_upstream(_reflect(b"Authorization"))
    auth = AkSkUpstreamAuth("GATEWAYAK00000000001", "gateway-secret-key-0000000000000000000001",
                            clock=lambda: datetime.now(timezone.utc))
    client = await _front(aiohttp_client, aiohttp_server, port, auth)
    ok = await client.get("/v3/p/instances")
    assert ok.status == 200 and "X-Echo" not in ok.headers
    assert ok.headers.getall("Set-Cookie") == ["lang=zh; Path=/"]
    assert ok.headers["X-Kept"] == "yes"
    failed = await client.get("/v3/p/fail")
    message = json.loads(await failed.read())["error_msg"]
    signature = re.search(rb"Signature=([0-9a-f]+)", recorder.requests[-1]).group(1).decode()  # type: ignore[union-attr]
    assert signature not in message and "Signature=[redacted]" in message
