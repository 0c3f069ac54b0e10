"""The proxy stage against the project's DDM simulator (`ddmsim`): re-signing, faults, request log."""
from __future__ import annotations

import hashlib
import json
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

import ddmsim
from gateway.errors import JSON_CONTENT_TYPE
from gateway.proxy.client import UpstreamClient
from gateway.proxy.upstream_auth import AkSkUpstreamAuth, utc_now

from .test_proxy_support import forwarding_app

AK, SK = "UPSTREAMAK0000000001", "sim-secret-key-0123456789abcdef"
PROJECT = "0503ddae897000fed2f78c00909158a4"


@pytest.fixture
async def sim(aiohttp_server: Any) -> TestServer:
    return await aiohttp_server(ddmsim.create_app(job_seconds=0, require_aksk=(AK, SK)))


@pytest.fixture
async def gateway(sim: TestServer, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    proxy = UpstreamClient(str(sim.make_url("")), AkSkUpstreamAuth(AK, SK, clock=utc_now),
                           connect_timeout_s=1, timeout_s=3)
    await proxy.start()

    yield await aiohttp_client(forwarding_app(proxy, request_id="rid-sim", project_id=PROJECT,
                                              client_ip="192.0.2.1"))
    await proxy.close()


async def _log(sim: TestServer) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.make_url("/_sim/requests")) as resp:
            return list((await resp.json())["requests"])


async def _fault(sim: TestServer, rule: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.make_url("/_sim/faults"), json=rule) as resp:
            assert resp.status == 201


async def test_simulator_accepts_the_resigned_request(sim: TestServer, gateway: TestClient) -> None:
    resp = await gateway.get(f"/v1/{PROJECT}/instances?offset=0&limit=10",
                             headers={"X-Auth-Token": "client-token", "Authorization": "client-signature"})
    assert resp.status == 200, await resp.text()
    entry = (await _log(sim))[-1]
    assert (entry["path"], entry["query"]) == (f"/v1/{PROJECT}/instances", "offset=0&limit=10")
    assert entry["headers"]["x-project-id"] == PROJECT
    assert "x-auth-token" not in entry["headers"]
    assert entry["headers"]["authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK},")
    assert entry["body_sha256"] == hashlib.sha256(b"").hexdigest()


async def test_simulator_error_is_normalized_with_its_own_code(gateway: TestClient) -> None:
    resp = await gateway.get(f"/v1/{PROJECT}/instances/no-such-instance")
    assert resp.status == 404
    assert resp.headers["Content-Type"] == JSON_CONTENT_TYPE
    document = json.loads(await resp.read())
    assert document["error_code"] == document["errCode"] == "DBS.280001"
    assert document["request_id"] == "rid-sim"


async def test_injected_html_500_is_normalized(sim: TestServer, gateway: TestClient) -> None:
    await _fault(sim, {"method": "GET", "path": "/v1/*/instances", "status": 500,
                       "body": "<html><h1>Internal</h1></html>", "content_type": "text/html", "times": 1})
    resp = await gateway.get(f"/v1/{PROJECT}/instances")
    assert resp.status == 500
    assert json.loads(await resp.read())["error_msg"] == "Internal"


async def test_dropped_post_reaches_the_simulator_once(sim: TestServer, gateway: TestClient) -> None:
    await _fault(sim, {"method": "POST", "path": "/v1/**", "drop": True})
    body = json.dumps({"instance": {"name": "ddm-test"}}).encode()
    resp = await gateway.post(f"/v1/{PROJECT}/instances", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 502
    posts = [entry for entry in await _log(sim) if entry["method"] == "POST"]
    assert len(posts) == 1
    assert posts[0]["body_sha256"] == hashlib.sha256(body).hexdigest()
