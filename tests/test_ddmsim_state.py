"""Simulator state rules over real HTTP: lifecycle, job pacing by an injected clock,
referential rules, stable pagination, and atomicity under concurrent requests."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ddmsim import create_app
from ddmsim.validation import check_fields, check_query
from ddmsim.errors import SimError

P = "0503ddae897000fed2f78c00909158a4"
OTHER = "05041fea8a8025662f4ac00927982f3e"
FLAVOR_ID = "8f2e696c-a9c1-30bd-af90-25522bc67606"
ENGINE_ID = "2325a707-0361-8be6-dd01-13474bbac437"


class StepClock:
    """A clock the test moves by hand; jobs complete only when it says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def instance_body(name: str = "ddm-life", nodes: int = 2) -> dict[str, Any]:
    return {"instance": {"name": name, "flavor_id": FLAVOR_ID, "node_num": nodes, "engine_id": ENGINE_ID,
                         "available_zones": ["az1"], "vpc_id": "vpc", "security_group_id": "sg",
                         "subnet_id": "subnet"}}


async def call(client: TestClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await client.request(method, path, json=body)
    return response.status, await response.json()


async def new_instance(client: TestClient, project: str = P, name: str = "ddm-life") -> str:
    status, created = await call(client, "POST", f"/v1/{project}/instances", instance_body(name))
    assert status == 200
    return created["id"]


async def database_body(client: TestClient, iid: str, name: str) -> dict[str, Any]:
    _, rds = await call(client, "GET", f"/v1/{P}/instances/{iid}/rds")
    return {"databases": [{"name": name, "shard_mode": "cluster", "shard_number": 4,
                           "used_rds": [{"id": rds["instances"][0]["id"], "adminUser": "root", "adminPassword": "x"}]}]}


async def test_lifecycle_with_paced_jobs(aiohttp_client: Any) -> None:
    clock = StepClock()
    client = await aiohttp_client(create_app(job_seconds=5, clock=clock))
    status, created = await call(client, "POST", f"/v1/{P}/instances", instance_body())
    iid, job_id = created["id"], created["job_id"]
    _, shown = await call(client, "GET", f"/v1/{P}/instances/{iid}")
    assert shown["status"] == "CREATING" and {n["status"] for n in shown["nodes"]} == {"creating"}
    clock.advance(3)
    _, job = await call(client, "GET", f"/v3/{P}/jobs/{job_id}")
    assert job["job"]["status"] == "Running" and job["job"]["process"] == "60%"
    status, refused = await call(client, "POST", f"/v1/{P}/instances/{iid}/databases",
                                 await database_body(client, iid, "orders"))
    assert (status, refused["errCode"]) == (400, "DBS.300100")

    clock.advance(2)
    _, job = await call(client, "GET", f"/v3/{P}/jobs/{job_id}")
    assert job["job"]["status"] == "Completed" and job["job"]["process"] == ""
    _, shown = await call(client, "GET", f"/v1/{P}/instances/{iid}")
    assert shown["status"] == "RUNNING" and shown["node_status"] == "RUNNING"

    assert (await call(client, "POST", f"/v1/{P}/instances/{iid}/databases",
                       await database_body(client, iid, "orders")))[0] == 200
    status, _ = await call(client, "POST", f"/v1/{P}/instances/{iid}/users", {"users": [
        {"name": "app", "password": "Sim_Pass_2024!", "base_authority": ["SELECT"], "databases": [{"name": "orders"}]}]})
    assert status == 200
    _, users = await call(client, "GET", f"/v1/{P}/instances/{iid}/users")
    assert users["users"][0]["databases"] == [{"name": "orders", "description": ""}]
    assert "password" not in str(users).replace("password_last_changed", "")

    assert (await call(client, "DELETE", f"/v1/{P}/instances/{iid}/databases/orders"))[0] == 200
    _, users = await call(client, "GET", f"/v1/{P}/instances/{iid}/users")
    assert users["users"][0]["databases"] == []          # the reference went with the database

    status, deleted = await call(client, "DELETE", f"/v1/{P}/instances/{iid}")
    assert status == 200 and deleted["id"] == iid
    assert (await call(client, "GET", f"/v1/{P}/instances/{iid}/users"))[0] == 404
    _, listed = await call(client, "GET", f"/v1/{P}/instances")
    assert listed["total_record"] == 0


async def test_transient_statuses_block_other_mutations(aiohttp_client: Any) -> None:
    clock = StepClock()
    client = await aiohttp_client(create_app(job_seconds=4, clock=clock))
    iid = await new_instance(client)
    clock.advance(4)
    status, _ = await call(client, "POST", f"/v2/{P}/instances/{iid}/action/enlarge",
                           {"flavor_id": FLAVOR_ID, "node_number": 2})
    assert status == 200
    _, shown = await call(client, "GET", f"/v1/{P}/instances/{iid}")
    assert shown["status"] == "GROWING" and shown["node_count"] == 4
    status, busy = await call(client, "PUT", f"/v1/{P}/instances/{iid}/modify-name", {"name": "ddm-other"})
    assert status == 409 and busy["errCode"] == "DBS.300005"
    clock.advance(4)
    _, shown = await call(client, "GET", f"/v1/{P}/instances/{iid}")
    assert shown["status"] == "RUNNING" and {n["status"] for n in shown["nodes"]} == {"normal"}
    await call(client, "POST", f"/v2/{P}/instances/{iid}/action/reduce", {"node_number": 3})
    _, shown = await call(client, "GET", f"/v1/{P}/instances/{iid}")
    assert (shown["status"], shown["node_count"]) == ("REDUCING", 4)
    clock.advance(4)
    _, shown = await call(client, "GET", f"/v1/{P}/instances/{iid}")
    assert (shown["status"], shown["node_count"]) == ("RUNNING", 1)


async def test_projects_are_partitioned(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    iid = await new_instance(client, P)
    assert (await call(client, "GET", f"/v1/{OTHER}/instances/{iid}"))[0] == 404
    _, listed = await call(client, "GET", f"/v1/{OTHER}/instances")
    assert listed["instance_num"] == 0
    status, body = await call(client, "GET", "/v1/not-a-project/instances")
    assert (status, body["errCode"]) == (400, "DBS.280001")


async def test_pagination_is_stable(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    created = [await new_instance(client, name=f"ddm-page-{i:02d}") for i in range(23)]
    for _ in range(2):
        seen: list[str] = []
        for offset in range(0, 30, 7):
            _, listed = await call(client, "GET", f"/v1/{P}/instances?offset={offset}&limit=7")
            seen += [i["id"] for i in listed["instances"]]
            assert listed["total_record"] == 23 and listed["total_page"] == 4
        assert seen == created


async def test_concurrent_duplicate_database_creates_one(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    iid = await new_instance(client)
    body = await database_body(client, iid, "dup")
    results = await asyncio.gather(*(call(client, "POST", f"/v1/{P}/instances/{iid}/databases", body)
                                     for _ in range(25)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1 and statuses.count(400) == 24
    assert {r["errCode"] for s, r in results if s == 400} == {"DBS.300112"}
    _, listed = await call(client, "GET", f"/v1/{P}/instances/{iid}/databases")
    assert listed["total"] == 1


async def test_concurrent_scale_out_accepts_exactly_one(aiohttp_client: Any) -> None:
    clock = StepClock()
    client = await aiohttp_client(create_app(job_seconds=10, clock=clock))
    iid = await new_instance(client)
    clock.advance(10)
    results = await asyncio.gather(*(call(client, "POST", f"/v3/{P}/instances/{iid}/nodes",
                                          {"nodes": [{"available_zone": "az1"}]}) for _ in range(10)))
    assert sorted(s for s, _ in results) == [202] + [409] * 9
    assert {r["error_code"] for s, r in results if s == 409} == {"DBS.300005"}


async def test_concurrent_account_creation_respects_the_limit(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    iid = await new_instance(client)
    bodies = [{"users": [{"name": f"user_{i}", "password": "Sim_Pass_2024!", "base_authority": ["SELECT"]}]}
              for i in range(110)]
    results = await asyncio.gather(*(call(client, "POST", f"/v1/{P}/instances/{iid}/users", b) for b in bodies))
    assert [s for s, _ in results].count(200) == 100
    _, listed = await call(client, "GET", f"/v1/{P}/instances/{iid}/users?limit=128")
    assert listed["total_record"] == 100


async def test_accounts_must_reference_existing_databases(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    iid = await new_instance(client)
    status, body = await call(client, "POST", f"/v1/{P}/instances/{iid}/users", {"users": [
        {"name": "app", "password": "Sim_Pass_2024!", "base_authority": ["SELECT"], "databases": [{"name": "nope"}]}]})
    assert (status, body["errCode"]) == (400, "DBS.300300")
    await call(client, "POST", f"/v1/{P}/instances/{iid}/users", {"users": [
        {"name": "app", "password": "Sim_Pass_2024!", "base_authority": ["SELECT"]}]})
    status, body = await call(client, "PUT", f"/v1/{P}/instances/{iid}/users/app",
                              {"user": {"databases": [{"name": "nope"}]}})
    assert (status, body["errCode"]) == (400, "DBS.300301")
    status, body = await call(client, "PUT", f"/v1/{P}/instances/{iid}/users/app", {"user": {}})
    assert (status, body["errCode"]) == (400, "DBS.280001")


@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", b"\xff\xfe"])
async def test_malformed_bodies_are_400_not_500(aiohttp_client: Any, raw: bytes) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    response = await client.post(f"/v1/{P}/instances", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["errCode"] == "DBS.280001"
    response = await client.put(f"/v3/{P}/instances/{'a' * 36}/configurations", data=raw,
                                headers={"Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error_code"] == "DBS.280001"


def test_validator_specs() -> None:
    spec = {"name": {"type": "str", "required": True, "pattern": "[a-z]+"},
            "n": {"type": "int", "min": 1, "max": 3, "default": 2},
            "tags": {"type": "list", "items": {"type": "str", "enum": ["a", "b"]}}}
    assert check_fields(spec, {"name": "ok"}) == {"name": "ok", "n": 2, "tags": None}
    for bad in ({}, {"name": "OK"}, {"name": "ok", "n": 4}, {"name": "ok", "n": True},
                {"name": "ok", "tags": ["c"]}, {"name": 5}):
        with pytest.raises(SimError):
            check_fields(spec, bad)
    query = {"offset": {"type": "int", "min": 0, "default": 0}, "limit": {"type": "int", "min": 1, "max": 128}}
    assert check_query(query, {"limit": "5"}) == {"offset": 0, "limit": 5}
    for bad_query in ({"limit": "0"}, {"limit": "x"}, {"offset": "-1"}, {"limit": "1e3"}):
        with pytest.raises(SimError):
            check_query(query, bad_query)


@pytest.mark.parametrize("query", ["curPage=1&perPage=10&startDate=99999999999999999&endDate=99999999999999999",
                                   "curPage=0&perPage=10&startDate=1&endDate=2",
                                   "curPage=1&perPage=10&startDate=5&endDate=1"])
async def test_slow_log_rejects_bad_windows(aiohttp_client: Any, query: str) -> None:
    client = await aiohttp_client(create_app(job_seconds=0))
    iid = await new_instance(client)
    status, body = await call(client, "GET", f"/v2/{P}/instances/{iid}/slowlog?{query}")
    assert status == 400 and body["errCode"] in {"DBS.280001", "DBS.300377"}


async def test_reference_example_bodies_work_verbatim(aiohttp_client: Any) -> None:
    """Section 4.2.1's two request examples (pay-per-use and yearly/monthly) as printed."""
    client = await aiohttp_client(create_app(job_seconds=0))
    instance = {"name": "ddm-test-001", "flavor_id": "8f2e696c-a9c1-30bd-af90-25522bc67606", "node_num": 4,
                "engine_id": "2325a707-0361-8be6-dd01-13474bbac437", "enterprise_project_id": "0",
                "available_zones": ["az1"], "vpc_id": "e1d886ec-cfe7-4cd4-b748-fc55a10b4172",
                "security_group_id": "035b70ed-319b-4086-9fd7-62a2e8548b2e",
                "subnet_id": "f942f970-1a02-4eee-8927-xxxxxxxx", "param_group_id": "035b70ed-319b-4086-9fd7-xxxxxxxx"}
    status, on_demand = await call(client, "POST", f"/v1/{P}/instances", {"instance": instance})
    assert status == 200 and on_demand["id"] and on_demand["job_id"] and on_demand["order_id"] is None
    extend = {"charge_mode": "prePaid", "period_type": "month", "period_num": 1, "is_auto_renew": "true",
              "is_auto_pay": "true"}
    status, prepaid = await call(client, "POST", f"/v1/{P}/instances",
                                 {"instance": {**instance, "name": "ddm-test-003"}, "extend_param": extend})
    assert status == 200 and prepaid["id"] is None and prepaid["order_id"].startswith("CS")
    status, body = await call(client, "POST", f"/v1/{P}/instances",
                              {"instance": instance, "extend_param": {**extend, "period_num": 10}})
    assert (status, body["errCode"]) == (400, "DBS.280001")


def test_simulator_cores_do_no_io() -> None:
    """Handlers, state, jobs and validation are plain Python: aiohttp stays at the edge."""
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent / "ddmsim"
    pure = [*root.joinpath("handlers").glob("*.py"), *(root / name for name in (
        "state.py", "jobs.py", "validation.py", "errors.py", "rules.py", "context.py", "faults.py", "catalog.py"))]
    for path in pure:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in {"aiohttp", "asyncio", "redis"} for n in names), path
