"""Property: no input makes the simulator answer 5xx, and every error has its route's shape.

Bodies are built from the field names the route table declares, with arbitrary JSON values,
so type confusion, missing/extra fields and odd nesting all reach the validators and handlers.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from ddmsim import create_app
from ddmsim.routing import Route, load_routes
from tests.harness import ServerThread

P = "0503ddae897000fed2f78c00909158a4"
ROUTES = load_routes()


def _field_names(spec: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(spec, dict):
        for key, value in spec.items():
            if isinstance(value, dict):
                names.add(key)
                names |= _field_names(value.get("fields", {}))
                names |= _field_names(value.get("items", {}).get("fields", {}))
    return names


FIELD_NAMES = sorted(set().union(*(_field_names(r.body or {}) for r in ROUTES)) | {"extra"})
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                    st.text(max_size=40), st.sampled_from(["cluster", "SELECT", "az1", "true", "Sim_Pass_2024!"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=5)), max_leaves=12)
QUERY_VALUES = st.one_of(st.text(alphabet="0123456789-abcTZ:+.", max_size=14), st.sampled_from(["0", "1", "128", "129"]),
                         st.integers(-10**18, 10**18).map(str))


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[str, str]]:
    servers = ServerThread()
    port = servers.serve(create_app(job_seconds=0))
    base = f"http://127.0.0.1:{port}"
    body = {"instance": {"name": "ddm-fuzz", "flavor_id": "8f2e696c-a9c1-30bd-af90-25522bc67606", "node_num": 2,
                         "engine_id": "2325a707-0361-8be6-dd01-13474bbac437", "available_zones": ["az1"],
                         "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}}
    instance_id = requests.post(f"{base}/v1/{P}/instances", json=body, timeout=5).json()["id"]
    yield base, instance_id
    servers.close()


def _path(route: Route, instance_id: str, name: str) -> str:
    values = {"project_id": P, "instance_id": instance_id, "node_id": name, "ddm_dbname": name,
              "database_name": name, "username": name, "job_id": name}
    return route.path.format(**values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, len(ROUTES) - 1), body=JSON, use_real_instance=st.booleans(),
       name=st.text(alphabet="abcXYZ_09-", min_size=1, max_size=12),
       query=st.dictionaries(st.sampled_from(["offset", "limit", "engine_id", "delete_dn_data", "curPage",
                                              "perPage", "startDate", "endDate", "start_time", "end_time",
                                              "keyword", "available_zones"]), QUERY_VALUES, max_size=5))
def test_no_input_causes_a_server_error(sim: tuple[str, str], index: int, body: Any, use_real_instance: bool,
                                        name: str, query: dict[str, str]) -> None:
    base, instance_id = sim
    route = ROUTES[index]
    path = _path(route, instance_id if use_real_instance else "f" * 36, name)
    response = requests.request(route.method, base + path, params=query, data=json.dumps(body),
                                headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code < 500, (route.op, response.text)
    if response.status_code >= 400:
        expected = {"error_code", "error_msg"} if route.errors == "v3" else {"errCode", "externalMessage"}
        assert set(response.json()) == expected, (route.op, response.text)
