"""The route catalog: every row valid, chapter 4 complete, matching exact and fast to index."""
from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from policies import PolicyError, RouteCatalog, action_problem
from policies.routes import ROUTES_FILE

from .paths import REFERENCE_ROUTES

PID, IID = "0123456789abcdef0123456789abcdef", "a1b2c3in09"


@pytest.fixture(scope="module")
def catalog() -> RouteCatalog:
    return RouteCatalog.load_default()


def segments(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


def concrete(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"val-{m.group(1)}", template)


def test_every_row_is_valid_and_names_a_registered_well_formed_action(catalog: RouteCatalog) -> None:
    data = yaml.safe_load(ROUTES_FILE.read_text(encoding="utf-8"))
    registered = set(data["actions"])
    rows = catalog.operations()
    assert len(rows) == len(data["routes"]) == 124
    for row in rows:
        if row.action is None:
            assert (row.method, row.path, row.source) == ("GET", "/", "public")
            continue
        assert row.action in registered and action_problem(row.action) is None
        assert row.action.startswith("ddm:")
        for dependency in row.dependencies:
            assert action_problem(dependency) is None, dependency
    assert len({(r.method, r.path) for r in rows}) == len(rows)
    assert len({r.operation for r in rows}) == len(rows)


def sdk_client_source() -> str:
    """The installed huaweicloudsdkddm's v1 client, wherever its environment put it."""
    spec = importlib.util.find_spec("huaweicloudsdkddm.v1.ddm_client")
    assert spec is not None and spec.origin is not None, "huaweicloudsdkddm is not installed"
    return Path(spec.origin).read_text(encoding="utf-8")


def test_all_52_chapter_4_operations_are_present(catalog: RouteCatalog) -> None:
    documented = yaml.safe_load(REFERENCE_ROUTES.read_text(encoding="utf-8"))["routes"]
    assert len(documented) == len({row["section"] for row in documented}) == 52
    in_catalog = {r.section: r for r in catalog.operations() if r.section}
    assert set(in_catalog) == {row["section"] for row in documented}
    for row in documented:
        route = in_catalog[row["section"]]
        assert (route.method, route.path) == (row["method"], row["path"]), row["section"]
        if row["iam_action"] is not None:   # chapter 5 names it: the catalog must agree
            assert (route.action, route.source) == (row["iam_action"], "ch5"), row["section"]
        else:
            assert route.source != "ch5", row["section"]


def test_every_sdk_route_is_in_the_catalog(catalog: RouteCatalog) -> None:
    source = sdk_client_source()
    sdk = set(re.findall(r'"method": "(\w+)",\s*"resource_path": "([^"]+)"', source))
    assert len(sdk) == 124
    assert sdk == {(r.method, r.path) for r in catalog.operations()}


def test_chapter_5_rows_are_authoritative(catalog: RouteCatalog) -> None:
    expected = {
        ("POST", "/v1/{project_id}/instances"): "ddm:instance:create",
        ("GET", "/v1/{project_id}/instances"): "ddm:instance:list",
        ("GET", "/v1/{project_id}/instances/{instance_id}"): "ddm:instance:get",
        ("POST", "/v1/{project_id}/instances/{instance_id}/action"): "ddm:instance:reboot",
        ("DELETE", "/v1/{project_id}/instances/{instance_id}"): "ddm:instance:delete",
        ("POST", "/v1/{project_id}/instances/{instance_id}/reload-config"): "ddm:instance:modify",
        ("POST", "/v1/{project_id}/instances/{instance_id}/databases"): "ddm:database:create",
        ("GET", "/v1/{project_id}/instances/{instance_id}/databases"): "ddm:database:list",
        ("GET", "/v1/{project_id}/instances/{instance_id}/databases/{ddm_dbname}"): "ddm:database:get",
        ("DELETE", "/v1/{project_id}/instances/{instance_id}/databases/{ddm_dbname}"): "ddm:database:delete",
        ("POST", "/v1/{project_id}/instances/{instance_id}/users"): "ddm:user:create",
        ("GET", "/v1/{project_id}/instances/{instance_id}/users"): "ddm:user:list",
        ("PUT", "/v1/{project_id}/instances/{instance_id}/users/{username}"): "ddm:user:modify",
        ("DELETE", "/v1/{project_id}/instances/{instance_id}/users/{username}"): "ddm:user:delete",
    }
    for (method, path), action in expected.items():
        match = catalog.match(method, segments(concrete(path)))
        assert match is not None and match.action == action and not match.gateway_choice, path
    create = catalog.match("POST", segments(f"/v1/{PID}/instances"))
    assert create is not None
    assert {"ecs:*:get*", "ecs:*:list*", "vpc:ports:*", "vpc:subnets:get"} <= set(create.dependencies)


def test_match_extracts_everything_the_gateway_needs(catalog: RouteCatalog) -> None:
    match = catalog.match("delete", segments(f"/v1/{PID}/instances/{IID}/databases/db%1"))
    assert match is not None
    assert (match.operation, match.action, match.version, match.project_id) == (
        "DeleteDatabase", "ddm:database:delete", "v1", PID)
    assert (match.resource_type, match.resource_id) == ("instance", IID)
    assert dict(match.params) == {"project_id": PID, "instance_id": IID, "ddm_dbname": "db%1"}
    assert match.authenticated and not match.gateway_choice
    assert catalog.resource_urn(match, region="cn-north-4", domain_id="dom") == \
        f"ddm:cn-north-4:dom:instance:{IID}"
    assert catalog.condition_keys(match) == {"ddm:InstanceId": IID, "ddm:DatabaseName": "db%1"}


CASES = [
    ("GET", "/", "ListApiVersion", "v1"),
    ("GET", f"/v1/{PID}/instances/", "ListInstances", "v1"),          # trailing slash tolerated
    ("PUT", f"/v3/{PID}/configurations/diff", "CompareParameterGroups", "v3"),   # literal first
    ("PUT", f"/v3/{PID}/configurations/cfg-1", "ResetParameterGroup", "v3"),
    ("PUT", f"/v3.1/{PID}/instances/{IID}/configurations", "ModifyConfiguration", "v3"),
    ("POST", f"/v3/{PID}/instances/{IID}/nodes/batch-delete", "BatchDeleteNodes", "v3"),
    ("POST", f"/v3/{PID}/instances/{IID}/nodes/n1/restart", "RestartNode", "v3"),
    ("GET", f"/v2/{PID}/instances/{IID}/slowlog", "ListSlowLog", "v2"),
    ("GET", f"/v3/{PID}/jobs/j-1", "ShowDdmJobResult", "v3"),
]


@pytest.mark.parametrize(("method", "path", "operation", "version"), CASES)
def test_match(catalog: RouteCatalog, method: str, path: str, operation: str, version: str) -> None:
    match = catalog.match(method, segments(path))
    assert match is not None and (match.operation, match.version) == (operation, version)


NO_MATCH = [
    ("GET", f"/v1/{PID}/instances/{IID}/unknown"),
    ("PATCH", f"/v1/{PID}/instances"),
    ("HEAD", "/"),
    ("GET", f"/v1/{PID}//databases"),            # empty variable
    ("GET", f"/v1/{PID}/instances/{IID}/databases/a/b"),
    ("GET", f"/v4/{PID}/instances"),
    ("GET", f"v1/{PID}/instances"),              # no leading slash
    ("GET", f"/v1/{PID}/instances//"),
    ("POST", f"/v1/{PID}/instances/{IID}/reload_config"),
]


@pytest.mark.parametrize(("method", "path"), NO_MATCH)
def test_unknown_routes_do_not_match(catalog: RouteCatalog, method: str, path: str) -> None:
    assert catalog.match(method, segments(path)) is None


def test_get_root_is_the_only_unauthenticated_route(catalog: RouteCatalog) -> None:
    root = catalog.match("GET", ("", ""))
    assert root is not None and not root.authenticated and root.action == "" and root.project_id is None
    unauthenticated = [r for r in catalog.operations() if r.action is None]
    assert [(r.method, r.path) for r in unauthenticated] == [("GET", "/")]


def test_every_row_matches_itself(catalog: RouteCatalog) -> None:
    for row in catalog.operations():
        match = catalog.match(row.method, segments(concrete(row.path)) if row.path != "/" else ("",))
        assert match is not None and match.operation == row.operation, row.path
        assert match.gateway_choice == (row.source == "rule")


def test_gateway_choices_are_marked_and_explained(catalog: RouteCatalog) -> None:
    sources = Counter(r.source for r in catalog.operations())
    assert sources["ch5"] == 16 and sources["public"] == 1
    assert all(r.why for r in catalog.operations() if r.source == "rule")


def test_instance_scaling_has_its_own_action(catalog: RouteCatalog) -> None:
    for method, path in [("POST", f"/v2/{PID}/instances/{IID}/action/enlarge"),
                         ("POST", f"/v3/{PID}/instances/{IID}/nodes"),
                         ("PUT", f"/v3/{PID}/instances/{IID}/flavor")]:
        match = catalog.match(method, segments(path))
        assert match is not None and match.action == "ddm:instance:scale"


def test_parameter_templates_use_param_actions_and_name_the_group(catalog: RouteCatalog) -> None:
    match = catalog.match("DELETE", segments(f"/v3/{PID}/configurations/cfg-9"))
    assert match is not None and match.action == "ddm:param:delete"
    assert catalog.resource_urn(match, region="r", domain_id="d") == "ddm:r:d:parameterGroup:cfg-9"
    listing = catalog.match("GET", segments(f"/v1/{PID}/instances"))
    assert listing is not None and catalog.resource_urn(listing, region="r", domain_id="d") is None


BAD_DOCUMENTS = [
    ({"routes": [{"method": "GET", "path": "/x", "operation": "X", "action": "ddm:x:get", "source": "rule"}]},
     "routes[0].action: 'ddm:x:get' is not a registered action"),
    ({"actions": ["ddm:x:get"], "routes": [{"method": "FETCH", "path": "/x", "operation": "X",
                                            "action": "ddm:x:get", "source": "rule"}]},
     "routes[0].method"),
    ({"actions": ["ddm:x:get"], "routes": [{"method": "GET", "path": "/x", "operation": "X",
                                            "action": "ddm:x:get", "source": "rule", "resource": "instance"}]},
     "routes[0].resource"),
    ({"actions": ["ddm:x:get"], "routes": [{"method": "GET", "path": "/x", "operation": "X",
                                            "action": "ddm:x:get", "source": "rule", "dependencies": "nope"}]},
     "routes[0].dependencies"),
    ({"actions": ["ddm:x:*"], "routes": []}, "actions:"),
    ({"actions": ["ddm:x:get"], "routes": [
        {"method": "GET", "path": "/v1/{a}", "operation": "A", "action": "ddm:x:get", "source": "rule"},
        {"method": "GET", "path": "/v1/{b}", "operation": "B", "action": "ddm:x:get", "source": "rule"}]},
     "routes: GET /v1/{b} has the same shape as /v1/{a}"),
    ([], "routes: the document must be a mapping"),
]


@pytest.mark.parametrize(("document", "expected"), BAD_DOCUMENTS)
def test_invalid_route_documents_are_refused(document: object, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        RouteCatalog.from_document(document)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_memoized_matches_are_the_same_answers_and_the_memo_stays_bounded(monkeypatch) -> None:
    import policies.routes as routes
    monkeypatch.setattr(routes, "MATCH_MEMO_ENTRIES", 8)
    fresh = RouteCatalog.load_default()
    path = segments(f"/v3/{PID}/instances/{IID}")
    first = fresh.match("GET", path)
    assert first is not None and fresh.match("GET", path) == first
    for index in range(20):   # many distinct instances: the memo is emptied, never grows past 8
        other = fresh.match("GET", segments(f"/v3/{PID}/instances/i{index}"))
        assert other is not None and other.resource_id == f"i{index}"
        assert len(fresh._memo) <= 8   # noqa: SLF001
    assert fresh.match("GET", segments("/v3/nothing/here/at/all")) is None
    assert ("GET", segments("/v3/nothing/here/at/all")) not in fresh._memo   # noqa: SLF001
    assert fresh.match("GET", path) == first
    long_id = segments(f"/v3/{PID}/instances/{'i' * 200}")   # matched, but too long to keep
    assert fresh.match("GET", long_id) is not None
    assert ("GET", long_id) not in fresh._memo   # noqa: SLF001
