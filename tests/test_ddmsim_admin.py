"""The simulator's test-facing parts: fault injection, the request log, undocumented routes,
optional upstream authentication (token and SDK AK/SK signatures) and run_sim."""
from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Iterator

import aiohttp
import yarl
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkddm.v1 import DdmClient, ListInstancesRequest

from ddmsim import create_app, run_sim
from ddmsim.faults import FaultRule, parse_rule, take_fault
from tests.conftest import free_port, wait_for_port
from tests.harness import ServerThread

P = "0503ddae897000fed2f78c00909158a4"
AK, SK = "SIMAK0000000000000001", "sim-secret-key-0000000000000000000001"


async def test_fault_status_with_arbitrary_bodies(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    await client.post("/_sim/faults", json={"method": "GET", "path": "/v1/*/instances", "status": 502,
                                            "body": "<html>bad gateway</html>", "content_type": "text/html",
                                            "times": 1})
    response = await client.get(f"/v1/{P}/instances")
    assert response.status == 502 and await response.text() == "<html>bad gateway</html>"
    assert response.headers["Content-Type"].startswith("text/html")
    assert (await client.get(f"/v1/{P}/instances")).status == 200       # used up after one time

    await client.post("/_sim/faults", json={"path": "/v3/**", "status": 503, "body": {"error_code": "DBS.200412",
                                                                                     "error_msg": "down"}})
    response = await client.get(f"/v3/{P}/engines")
    assert response.status == 503 and (await response.json())["error_code"] == "DBS.200412"
    await client.post("/_sim/faults", json={"method": "POST", "path": "/v1/**", "status": 500, "body": ""})
    response = await client.post(f"/v1/{P}/instances", json={})
    assert response.status == 500 and await response.read() == b""
    assert len((await (await client.get("/_sim/faults")).json())["faults"]) == 2
    await client.delete("/_sim/faults")
    assert (await client.get(f"/v3/{P}/engines")).status == 200


async def test_fault_delay_and_drop(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    await client.post("/_sim/faults", json={"path": "/v2/*/engines", "delay_s": 0.3, "times": 1})
    with pytest.raises(asyncio.TimeoutError):
        await client.get(f"/v2/{P}/engines", timeout=aiohttp.ClientTimeout(total=0.05))
    await client.post("/_sim/faults", json={"path": "/v2/*/engines", "drop": True, "times": 1})
    with pytest.raises(aiohttp.ClientError):
        await client.get(f"/v2/{P}/engines")
    assert (await client.get(f"/v2/{P}/engines")).status == 200


async def test_bad_fault_rules_are_refused(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    for bad in (b"{", b'{"status": 42}', b'{"delay_s": "soon"}', b'{"path": 5}'):
        assert (await client.post("/_sim/faults", data=bad)).status == 400


def test_fault_matching_is_per_segment_and_counts_down() -> None:
    rule = parse_rule({"method": "get", "path": "/v1/*/instances", "times": 2})
    assert rule.matches("GET", f"/v1/{P}/instances")
    assert not rule.matches("GET", f"/v1/{P}/x/instances") and not rule.matches("POST", f"/v1/{P}/instances")
    rules: list[FaultRule] = [rule]
    for _ in range(2):
        found, rules = take_fault(rules, "GET", f"/v1/{P}/instances")
        assert found is not None
    assert take_fault(rules, "GET", f"/v1/{P}/instances") == (None, [])
    assert parse_rule({"path": "/a.b/**"}).matches("GET", "/a.b/c/d")
    assert not parse_rule({"path": "/a.b/**"}).matches("GET", "/aXb/c")


async def test_request_log_records_what_arrived(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    body = b'{"name": "x"}'
    url = yarl.URL(str(client.make_url("/")).rstrip("/") + f"/v1/{P}/instances/abc/modify-name?b=2&a=%2F",
                   encoded=True)
    await client.session.put(url, data=body,
                     headers={"X-Auth-Token": "tok", "Content-Type": "application/json"})
    log = (await (await client.get("/_sim/requests")).json())["requests"]
    assert len(log) == 1
    entry = log[0]
    assert entry["method"] == "PUT" and entry["path"] == f"/v1/{P}/instances/abc/modify-name"
    assert entry["query"] == "b=2&a=%2F" and entry["headers"]["x-auth-token"] == "tok"
    assert entry["body_sha256"] == hashlib.sha256(body).hexdigest()
    await client.delete("/_sim/requests")
    assert (await (await client.get("/_sim/requests")).json())["requests"] == []


async def test_undocumented_routes_answer_404_in_v1_shape(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    for method, path in (("GET", f"/v3/{P}/backups"), ("POST", f"/v3/{P}/instances/x/tags"),
                         ("PATCH", f"/v1/{P}/instances"), ("GET", "/nothing")):
        response = await client.request(method, path)
        assert response.status == 404
        assert set(await response.json()) == {"errCode", "externalMessage"}
    routes = (await (await client.get("/_sim/routes")).json())["routes"]
    assert len(routes) == 56


async def test_require_token(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0, require_token="upstream-token"))
    assert (await client.get("/")).status == 200                       # GET / needs no auth
    assert (await client.get("/_sim/requests")).status == 200          # nor does the admin path
    for headers in ({}, {"X-Auth-Token": "wrong"}):
        response = await client.get(f"/v1/{P}/instances", headers=headers)
        assert response.status == 401 and (await response.json())["error_code"] == "APIGW.0301"
    assert (await client.get(f"/v1/{P}/instances", headers={"X-Auth-Token": "upstream-token"})).status == 200


@pytest.fixture(scope="module")
def servers() -> Iterator[ServerThread]:
    thread = ServerThread()
    yield thread
    thread.close()


def sdk_client(port: int, ak: str, sk: str) -> DdmClient:
    return (DdmClient.new_builder().with_credentials(BasicCredentials(ak, sk, P))
            .with_endpoints([f"http://127.0.0.1:{port}"]).build())


def test_require_aksk_accepts_the_sdk_signature_only(servers: ServerThread) -> None:
    port = servers.serve(create_app(job_seconds=0, require_aksk=(AK, SK)))
    assert sdk_client(port, AK, SK).list_instances(ListInstancesRequest()).instance_num == 0
    for ak, sk in ((AK, "wrong-secret"), ("OTHERAK00000000000001", SK)):
        with pytest.raises(ClientRequestException) as caught:
            sdk_client(port, ak, sk).list_instances(ListInstancesRequest(limit=5))
        assert caught.value.status_code == 401 and caught.value.error_code == "APIGW.0301"
        assert SK not in caught.value.error_msg


async def test_require_aksk_rejects_unsigned(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0, require_aksk=(AK, SK)))
    response = await client.get(f"/v1/{P}/instances")
    assert response.status == 401 and "signature" in (await response.json())["error_msg"]
    response = await client.get(f"/v1/{P}/instances", headers={"Authorization": "garbage"})
    assert response.status == 401


async def test_run_sim_serves_until_cancelled() -> None:
    port = free_port()
    task = asyncio.create_task(run_sim("127.0.0.1", port, job_seconds=0, require_aksk=None, require_token=None))
    await asyncio.get_running_loop().run_in_executor(None, wait_for_port, port)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 200 and "versions" in json.loads(await response.text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_ddm_answers_carry_a_request_id_but_faults_are_verbatim(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    assert len((await client.get(f"/v1/{P}/instances")).headers["X-Request-Id"]) == 32
    assert (await client.get(f"/v1/{P}/instances/nope")).headers.get("X-Request-Id")
    await client.post("/_sim/faults", json={"path": "/**", "status": 418, "body": "teapot", "times": 1})
    assert "X-Request-Id" not in (await client.get(f"/v1/{P}/instances")).headers
