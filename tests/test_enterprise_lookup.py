"""Issue #20: the enterprise-project lookup against a real simulator through the real upstream
client: concurrent misses share one upstream request, answers are cached, no such instance is
None, and failures raise the documented 502 without caching anything."""
from __future__ import annotations

from typing import Any

import pytest

import ddmsim
from gateway.enterprise_projects import EnterpriseProjectCache, EnterpriseProjectLocator
from gateway.errors import GatewayError
from gateway.observability.metrics import Counter
from gateway.proxy.client import UpstreamClient
from gateway.proxy.upstream_auth import NoUpstreamAuth

PROJECT = "0503ddae897000fed2f78c00909158a4"
RED = "7a1c9e52-3b4d-4e6f-8a9b-0c1d2e3f4a5b"


async def _locator(url: str) -> tuple[EnterpriseProjectLocator, Counter, UpstreamClient]:
    client = UpstreamClient(url, NoUpstreamAuth(), connect_timeout_s=1, timeout_s=5)
    await client.start()
    counter = Counter("lookups", "test", ("result",))
    cache = EnterpriseProjectCache(ttl_s=60, max_entries=100, clock=lambda: 0.0)
    return EnterpriseProjectLocator(cache, client, counter, timeout_s=2), counter, client


async def _instance(sim: Any, ep: str) -> str:
    body = {"instance": {"name": "lookup-me", "flavor_id": "8f2e696c-a9c1-30bd-af90-25522bc67606", "node_num": 1,
                         "engine_id": "2325a707-0361-8be6-dd01-13474bbac437", "enterprise_project_id": ep,
                         "available_zones": ["az1"], "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}}
    async with sim.post(f"/v1/{PROJECT}/instances", json=body) as reply:
        return (await reply.json())["id"]


async def test_concurrent_misses_share_one_lookup(aiohttp_client: Any) -> None:
    import asyncio
    sim = await aiohttp_client(ddmsim.create_app(job_seconds=0))
    instance_id = await _instance(sim, RED)
    await sim.delete("/_sim/requests")
    locator, counter, client = await _locator(str(sim.make_url("/")))
    try:
        found = await asyncio.gather(*(locator.of_instance(PROJECT, instance_id, "rid") for _ in range(10)))
        assert found == [RED] * 10
        requests = (await (await sim.get("/_sim/requests")).json())["requests"]
        assert len(requests) == 1 and counter.values == {("miss",): 1.0}
        assert await locator.of_instance(PROJECT, instance_id, "rid") == RED
        assert counter.values == {("miss",): 1.0, ("hit",): 1.0}
        assert await locator.of_instance(PROJECT, "0" * 32 + "in09", "rid") is None    # DDM: 404
        assert counter.values[("miss",)] == 2.0 and len(locator.cache) == 1             # not cached
    finally:
        await client.close()


@pytest.mark.parametrize("status, body", [(500, None), (503, ""), (401, {"error_code": "APIGW.0301"}),
                                          (403, None), (200, {"id": "x"}), (200, "<html>ok</html>")])
async def test_a_failing_upstream_raises_502_and_caches_nothing(aiohttp_client: Any, status: int,
                                                                body: Any) -> None:
    """DDM down, refusing the gateway's own credentials, or answering without an enterprise project."""
    sim = await aiohttp_client(ddmsim.create_app(job_seconds=0))
    instance_id = await _instance(sim, RED)
    fault = {"path": f"/v1/{PROJECT}/instances/{instance_id}", "status": status, "body": body, "times": 1}
    assert (await sim.post("/_sim/faults", json=fault)).status < 300
    locator, counter, client = await _locator(str(sim.make_url("/")))
    try:
        with pytest.raises(GatewayError) as caught:
            await locator.of_instance(PROJECT, instance_id, "rid")
        assert (caught.value.status, caught.value.code) == (502, "APIGW.0201")
        assert counter.values == {("failure",): 1.0} and len(locator.cache) == 0
        assert await locator.of_instance(PROJECT, instance_id, "rid") == RED            # the fault is spent
    finally:
        await client.close()


def test_a_reply_nested_past_the_recursion_limit_is_not_json() -> None:
    from gateway.enterprise_projects import parse_json
    assert parse_json(b"[" * 60000) is None and parse_json(b'{"a": 1}') == {"a": 1}
