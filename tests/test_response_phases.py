"""The proxy and response phases as plain values: the OutgoingRequest built from plain values,
the proxy's UpstreamResponse in and an UpstreamResponse out (normalize), and the relay's choice
of one write or a stream (through a real aiohttp server)."""
from __future__ import annotations

import json
from typing import AsyncIterator

import pytest
from aiohttp import ClientPayloadError, web

from gateway.errors import JSON_CONTENT_TYPE
from gateway.pipeline.normalize import normalize_errors
from gateway.http.relay import relay
from gateway.proxy.answer import BodyBroken, UpstreamResponse
from gateway.proxy.client import UpstreamClient
from gateway.proxy.upstream_auth import NoUpstreamAuth


def test_a_success_passes_normalize_untouched() -> None:
    answer = UpstreamResponse(200, "OK", (("Content-Type", "text/plain"),), body=b"as is")
    assert normalize_errors(answer, "rid", legacy=False) is answer


def test_an_error_is_rewritten_in_the_documented_shape_keeping_retry_after_only() -> None:
    released: list[bool] = []
    answer = UpstreamResponse(
        429, "Too Many", (("Content-Type", "application/json"), ("Retry-After", "3"), ("X-Debug", "x")),
        body=json.dumps({"error_code": "DBS.0001", "error_msg": "slow down"}).encode(),
        release=lambda: released.append(True))
    out = normalize_errors(answer, "rid-1", legacy=False)
    assert out.status == 429
    assert dict(out.headers) == {"Content-Type": JSON_CONTENT_TYPE, "Retry-After": "3"}
    assert json.loads(out.body or b"") == {"error_code": "DBS.0001", "error_msg": "slow down",
                                           "request_id": "rid-1"}
    out.release()
    assert released == [True]          # the same connection is given back


def test_normalize_scrubs_the_rewritten_body_again() -> None:
    """A message spelling the secret with JSON escapes shows it only once decoded."""
    body = b'{"error_code": "X.1", "error_msg": "token s\\u0065cret"}'
    assert b"secret" not in body
    answer = UpstreamResponse(401, None, (("Content-Type", "application/json"),), body=body,
                              scrub=lambda data: data.replace(b"secret", b"[redacted]"))
    out = normalize_errors(answer, "rid", legacy=True)
    assert b"secret" not in (out.body or b"") and b"[redacted]" in (out.body or b"")


async def _chunks(*parts: bytes, broken: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if broken:
        raise BodyBroken("IncompleteBody")


async def test_relay_writes_whole_and_streamed_bodies_and_always_releases(aiohttp_client) -> None:
    released: list[str] = []
    answers = {
        "/whole": UpstreamResponse(201, "Created", (("Content-Length", "999"), ("Connection", "close"),
                                                    ("X-Request-Id", "theirs")),
                                   body=b"whole", release=lambda: released.append("whole")),
        "/stream": UpstreamResponse(200, "OK", (("Content-Length", "4"), ("Transfer-Encoding", "chunked")),
                                    chunks=_chunks(b"ab", b"cd"), reframed=True,
                                    release=lambda: released.append("stream")),
        "/broken": UpstreamResponse(200, "OK", (), chunks=_chunks(b"ab", broken=True),
                                    release=lambda: released.append("broken")),
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        return await relay(request, answers[request.path], "rid-r", (("RateLimit-Remaining", "5"),))

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    client = await aiohttp_client(app)
    whole = await client.get("/whole")
    assert (whole.status, await whole.read()) == (201, b"whole")
    assert whole.headers["Content-Length"] == "5" and whole.headers["X-Request-Id"] == "rid-r"
    assert whole.headers["RateLimit-Remaining"] == "5"
    streamed = await client.get("/stream")
    assert (streamed.status, await streamed.read()) == (200, b"abcd")
    assert "Content-Length" not in streamed.headers
    broken = await client.get("/broken")
    assert broken.status == 200
    with pytest.raises(ClientPayloadError):   # cut: a truncated body, never a complete success
        await broken.read()
    assert sorted(released) == ["broken", "stream", "whole"]


def test_the_outgoing_request_is_built_from_plain_values() -> None:
    """The proxy phase's request (no aiohttp request involved): path and query byte for byte
    under the upstream prefix, hop-by-hop and client credentials dropped, the proxy's own
    headers set; an empty GET body stays absent; a streamed body keeps its declared length."""
    client = UpstreamClient("http://ddm.example:8443/prefix", NoUpstreamAuth(), connect_timeout_s=1.0,
                            timeout_s=1.0, trust_env=False)
    incoming = (("Host", "gw"), ("Connection", "close, X-Hop"), ("X-Hop", "1"), ("X-Auth-Token", "t"),
                ("Accept", "application/json"), ("X-Forwarded-For", "6.6.6.6"))
    out = client.outgoing("GET", "/v1/p/instances/a%2Fb", "limit=1&x=%20", incoming, body=b"",
                          streamed_length=None, request_id="rid", project_id="p", client_ip="192.0.2.7",
                          proto="http", original_host="gw")
    assert (out.method, out.raw_path, out.raw_query, out.body, out.project_id) == (
        "GET", "/prefix/v1/p/instances/a%2Fb", "limit=1&x=%20", None, "p")
    assert dict(out.headers) == {"Host": "ddm.example:8443", "X-Request-Id": "rid",
                                 "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "http",
                                 "X-Forwarded-Host": "gw", "Accept": "application/json"}
    streamed = client.outgoing("PUT", "/v1/p/x", "", (("Content-Length", "5"),), body=None,
                               streamed_length=5, request_id="rid", project_id=None, client_ip="192.0.2.7",
                               proto="https", original_host="gw")
    assert ("Content-Length", "5") in streamed.headers and streamed.body is None
