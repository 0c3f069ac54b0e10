"""Issue #20, the pure parts: config, route classification, grants by enterprise project, the
cache, create bodies, lookup answers and the list filter (no servers)."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import yaml

from gateway.config import ConfigError, parse_config
from gateway.enterprise_projects import EnterpriseProjectCache, instances_in, lookup_answer
from gateway.errors import GatewayError
from gateway.grants import GrantResolver
from gateway.identity import IdentityDirectory, Project
from gateway.pipeline.enterprise import body_enterprise_project
from gateway.pipeline.filter import filter_documents, paging
from policies import (ENTERPRISE_PROJECT_KEY, EP_CATALOG, EP_CREATE, EP_INSTANCE, EP_LIST, EP_PROJECT,
                      AuthzRequest, PolicyError, RouteCatalog)
from policies.routes import ROUTES_FILE

from .harness import config_data

RED, BLUE = "7a1c9e52-3b4d-4e6f-8a9b-0c1d2e3f4a5b", "b2d4f6a8-1c3e-4a5b-9c7d-e1f2a3b4c5d6"


def _data(**grant: Any) -> dict[str, Any]:
    data = config_data(state_dir="/tmp/unused")
    acme = data["iam"]["domains"][0]
    acme["enterprise_projects"] = [{"id": RED, "name": "team-red"}, {"id": BLUE, "name": "team-blue"}]
    acme["groups"].append({"name": "red", "grants": [{"policy": "DDM FullAccess", **grant}]})
    return data


def problems(data: dict[str, Any]) -> list[str]:
    try:
        parse_config(data, environ={})
    except ConfigError as err:
        return err.problems
    return []


# ---- config ---------------------------------------------------------------------------------

def test_enterprise_projects_and_grants_parse() -> None:
    config = parse_config(_data(enterprise_projects=["team-red", BLUE, "default"]), environ={})
    acme = config.iam.domains[0]
    assert [(ep.id, ep.name) for ep in acme.enterprise_projects] == [
        ("0", "default"), (RED, "team-red"), (BLUE, "team-blue")]
    grant = acme.groups[-1].grants[0]
    assert (grant.projects, grant.enterprise_projects) == (None, (RED, BLUE, "0"))
    assert config.authz.enterprise_project_cache_s == 60


@pytest.mark.parametrize("grant, expected", [
    ({"enterprise_projects": ["team-red"], "projects": ["cn-north-4"]},
     "groups[3].grants[0].enterprise_projects: conflicts with projects"),
    ({"enterprise_projects": []}, "groups[3].grants[0].enterprise_projects: must not be empty"),
    ({"enterprise_projects": ["team-green"]},
     "groups[3].grants[0].enterprise_projects[0]: unknown enterprise project 'team-green'"),
])
def test_grant_problems_name_their_path(grant: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in problems(_data(**grant))), problems(_data(**grant))


@pytest.mark.parametrize("declared, expected", [
    ([{"id": "0", "name": "zero"}], "enterprise_projects[0].id: the default enterprise project is id '0'"),
    ([{"id": RED, "name": "default"}], "enterprise_projects[0].name: the default enterprise project"),
    ([{"id": RED, "name": "a"}, {"id": RED, "name": "b"}], "duplicate enterprise project id"),
    ([{"id": RED, "name": "a"}, {"id": BLUE, "name": "a"}], "duplicate enterprise project name 'a'"),
    ([{"id": "bad id", "name": "a"}], "enterprise_projects[0].id: not a valid enterprise project id"),
])
def test_enterprise_project_declarations_are_checked(declared: list[dict[str, str]], expected: str) -> None:
    data = config_data(state_dir="/tmp/unused")
    data["iam"]["domains"][0]["enterprise_projects"] = declared
    assert any(expected in p for p in problems(data)), problems(data)


def test_the_default_enterprise_project_may_be_declared() -> None:
    data = config_data(state_dir="/tmp/unused")
    data["iam"]["domains"][0]["enterprise_projects"] = [{"id": "0", "name": "default"}]
    assert [ep.id for ep in parse_config(data, environ={}).iam.domains[0].enterprise_projects] == ["0"]


def test_passthrough_with_enterprise_project_grants_is_a_config_error() -> None:
    data = _data(enterprise_projects=["team-red"])
    data["upstream"] = {"url": "http://127.0.0.1:9", "auth": {"mode": "passthrough"}}
    assert problems(data) == ["iam.domains[0].groups[3].grants[0].enterprise_projects: needs upstream.auth.mode "
                              "aksk, token or none: with passthrough the gateway has no credentials to look "
                              "up an instance's enterprise project"]
    data["upstream"]["auth"]["mode"] = "none"
    assert problems(data) == []


def test_authz_cache_keys_are_validated() -> None:
    data = _data()
    data["authz"] = {"enterprise_project_cache_s": 0, "enterprise_project_cache_entries": "many"}
    found = problems(data)
    assert any(p.startswith("authz.enterprise_project_cache_s:") for p in found), found
    assert any(p.startswith("authz.enterprise_project_cache_entries:") for p in found), found


# ---- the route catalog's classification -----------------------------------------------------

def test_every_route_is_classified_with_a_why() -> None:
    rows = RouteCatalog.load_default().operations()
    assert all(row.enterprise_project.why and row.enterprise_project.why != "not classified" for row in rows)
    kinds = {row.operation: row.enterprise_project.kind for row in rows}
    assert {op for op, k in kinds.items() if k == EP_LIST} == {"ListInstances", "ListDdms"}
    assert {op for op, k in kinds.items() if k == EP_CREATE} == {"CreateInstance", "CreateDdmInstance"}
    assert all(kinds[row.operation] == EP_INSTANCE for row in rows if row.resource_type == "instance")
    assert kinds["ListDdmFlavors"] == EP_CATALOG and kinds["ShowConfiguration"] == EP_PROJECT


def _document() -> dict[str, Any]:
    return yaml.safe_load(ROUTES_FILE.read_text(encoding="utf-8"))


def test_an_unclassified_route_is_refused() -> None:
    data = _document()
    del data["enterprise_project_scopes"]["catalog"]["operations"]["ListEngines"]
    with pytest.raises(PolicyError, match=r"GET /v2/\{project_id\}/engines \(ListEngines\) is not classified"):
        RouteCatalog.from_document(data)


def test_an_instance_route_listed_again_is_refused() -> None:
    data = _document()
    data["enterprise_project_scopes"]["project"]["operations"]["ShowInstance"] = "no"
    with pytest.raises(PolicyError, match="ShowInstance is instance-bound"):
        RouteCatalog.from_document(data)


def test_a_classified_operation_without_a_route_is_refused() -> None:
    data = _document()
    data["enterprise_project_scopes"]["catalog"]["operations"]["ListTypos"] = "no such route"
    with pytest.raises(PolicyError, match="ListTypos names no route"):
        RouteCatalog.from_document(data)


# ---- grants ---------------------------------------------------------------------------------

def _resolver(groups: list[dict[str, Any]], policies: list[dict[str, Any]] = ()) -> tuple[GrantResolver, Any]:
    data = _data()
    acme = data["iam"]["domains"][0]
    acme["groups"] = groups
    acme["policies"] = list(policies)
    acme["users"] = acme["users"][:1]
    acme["users"][0]["groups"] = [g["name"] for g in groups]
    config = parse_config(data, environ={})
    identity = IdentityDirectory(config.iam).by_login("acme", "alice")
    return GrantResolver(config.iam), identity


PROJECT = Project("0503ddae897000fed2f78c00909158a4", "cn-north-4", "0a1b2c3d4e5f40718293a4b5c6d7e8f9")


def test_enterprise_project_grants_apply_only_in_their_enterprise_project() -> None:
    resolver, alice = _resolver(
        [{"name": "g", "grants": [{"policy": "DDM ReadOnlyAccess"},
                                  {"policy": "DDM FullAccess", "enterprise_projects": ["team-red"]},
                                  {"policy": "deny-get", "enterprise_projects": ["team-blue"]}]}],
        [{"name": "deny-get", "document": {"Version": "1.1", "Statement": [
            {"Effect": "Deny", "Action": ["ddm:instance:get"]}]}}])
    grants = resolver.grants_for(alice, PROJECT)
    assert grants.depends_on_enterprise_project and resolver.uses_enterprise_projects
    delete, get = AuthzRequest("ddm:instance:delete", None), AuthzRequest("ddm:instance:get", None)
    assert grants.in_enterprise_project(RED).decide(delete).allowed
    assert not grants.in_enterprise_project(BLUE).decide(delete).allowed
    assert not grants.in_enterprise_project(BLUE).decide(get).allowed         # the Deny applies in blue
    assert grants.in_enterprise_project("0").decide(get).allowed              # ... and nowhere else
    assert not grants.in_enterprise_project("0").decide(delete).allowed
    assert [ep for ep, _ in grants.candidates()] == [None, RED, BLUE]


def test_a_condition_on_the_enterprise_project_makes_decisions_depend_on_it() -> None:
    resolver, alice = _resolver(
        [{"name": "g", "grants": [{"policy": "blue-only"}]}],
        [{"name": "blue-only", "document": {"Version": "1.1", "Statement": [
            {"Effect": "Allow", "Action": ["ddm:*:*"],
             "Condition": {"StringEquals": {"g:enterpriseprojectid": [BLUE]}}}]}}])
    grants = resolver.grants_for(alice, PROJECT)
    assert grants.depends_on_enterprise_project and not grants.enterprise
    get = "ddm:instance:get"
    assert grants.project.decide(AuthzRequest(get, None, {ENTERPRISE_PROJECT_KEY: BLUE})).allowed
    assert not grants.project.decide(AuthzRequest(get, None, {ENTERPRISE_PROJECT_KEY: RED})).allowed


def test_plain_project_grants_never_depend_on_enterprise_projects() -> None:
    resolver, alice = _resolver([{"name": "g", "grants": [{"policy": "DDM FullAccess"}]}])
    grants = resolver.grants_for(alice, PROJECT)
    assert not grants.depends_on_enterprise_project and not resolver.uses_enterprise_projects
    assert grants.in_enterprise_project(RED) is grants.project


# ---- the cache ------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = EnterpriseProjectCache(ttl_s=60, max_entries=10, clock=clock)
    cache.learn("p", "i1", RED)
    clock.now += 59.9
    assert cache.get("p", "i1") == RED and cache.get("other-project", "i1") is None
    clock.now += 0.1
    assert cache.get("p", "i1") is None and len(cache) == 0


def test_cache_is_bounded_and_forgets_deleted_instances() -> None:
    cache = EnterpriseProjectCache(ttl_s=60, max_entries=3, clock=Clock())
    for n in range(5):
        cache.learn("p", f"i{n}", RED)
    assert len(cache) == 3 and cache.get("p", "i0") is None and cache.get("p", "i4") == RED
    cache.learn("p", "i2", BLUE)                   # re-learned: newest, so i3 goes next
    cache.learn("p", "i5", RED)
    assert cache.get("p", "i3") is None and cache.get("p", "i2") == BLUE
    cache.forget("p", "i2")
    assert cache.get("p", "i2") is None
    cache.learn("p", "x" * 200, RED)               # overlong ids are not kept
    assert cache.get("p", "x" * 200) is None


def test_lookup_answers() -> None:
    assert lookup_answer(200, json.dumps({"id": "i", "enterprise_project_id": RED}).encode()) == RED
    assert lookup_answer(404, b'{"errCode": "DBS.280001"}') is None
    assert lookup_answer(400, b"") is None
    for status, body in ((500, b""), (503, b""), (401, b""), (403, b""), (200, b"{}"), (200, b"not json"),
                         (200, b'{"enterprise_project_id": 7}'), (200, b'{"enterprise_project_id": ""}')):
        assert lookup_answer(status, body) not in (None, RED), (status, body)
    v3 = {"instances": [{"id": "a", "enterprise_project_id": RED}, {"id": "b"}, "junk"]}
    assert list(instances_in(v3)) == [("a", RED)]


# ---- create bodies --------------------------------------------------------------------------

@pytest.mark.parametrize("body, path, expected", [
    (b'{"instance": {"name": "x", "enterprise_project_id": "%s"}}' % RED.encode(),
     ("instance", "enterprise_project_id"), RED),
    (b'{"instance": {"name": "x"}}', ("instance", "enterprise_project_id"), "0"),
    (b'{"instance": {"enterprise_project_id": null}}', ("instance", "enterprise_project_id"), "0"),
    (b'{}', ("instance", "enterprise_project_id"), "0"),
    (b'{"enterprise_project_id": "%s"}' % BLUE.encode(), ("enterprise_project_id",), BLUE),
])
def test_the_create_body_names_the_enterprise_project(body: bytes, path: tuple[str, ...], expected: str) -> None:
    assert body_enterprise_project(body, path) == expected


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"instance": []}', b'{"instance": {"enterprise_project_id": 0}}',
    b'{"instance": {"enterprise_project_id": ""}}', b"\xff\xfe",
    b'{"instance": {"enterprise_project_id": "a", "enterprise_project_id": "b"}}',
    b'{"instance": {"name": "x"}, "instance": {"enterprise_project_id": "b"}}',
])
def test_unreadable_create_bodies_are_a_400(body: bytes) -> None:
    with pytest.raises(GatewayError) as caught:
        body_enterprise_project(body, ("instance", "enterprise_project_id"))
    assert caught.value.status == 400


# ---- the list filter ------------------------------------------------------------------------

SCOPE = RouteCatalog.load_default().match("GET", ("", "v1", "p", "instances")).enterprise_project


def _page(items: list[dict[str, Any]], **counts: int) -> dict[str, Any]:
    return {"instances": items, "instance_num": 99, "total_record": 99, "page_no": 1, "page_size": 9,
            "total_page": 9, **counts}


def _items(n: int, eps: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"id": f"i{k:03d}", "enterprise_project_id": eps[k % len(eps)], "name": f"n{k}"} for k in range(n)]


def test_filter_pages_and_counts_what_the_caller_may_see() -> None:
    items = _items(10, (RED, BLUE))
    body, shown = filter_documents([_page(items[:6]), _page(items[6:])], SCOPE, lambda ep: ep == RED, 2, 2)
    page = json.loads(body)
    assert [i["id"] for i in page["instances"]] == ["i004", "i006"]
    assert (page["instance_num"], page["total_record"], page["page_no"], page["page_size"], page["total_page"]) \
        == (5, 5, 2, 2, 3)
    assert shown == [RED]


def test_filter_drops_duplicates_and_items_without_an_enterprise_project() -> None:
    items = _items(4, (RED,)) + [{"id": "i001", "enterprise_project_id": RED}, {"id": "odd"}, "junk",
                                 {"id": "i009", "enterprise_project_id": 7}]
    page = json.loads(filter_documents([_page(items)], SCOPE, lambda ep: True, 0, 10)[0])
    assert [i["id"] for i in page["instances"]] == ["i000", "i001", "i002", "i003"]


def test_filter_past_the_end_and_nothing_visible() -> None:
    page = json.loads(filter_documents([_page(_items(5, (RED,)))], SCOPE, lambda ep: True, 10, 10)[0])
    assert (page["instances"], page["total_record"], page["page_no"], page["total_page"]) == ([], 5, 2, 1)
    page = json.loads(filter_documents([_page(_items(5, (RED,)))], SCOPE, lambda ep: False, 0, 10)[0])
    assert (page["instances"], page["instance_num"], page["total_page"]) == ([], 0, 0)


@pytest.mark.parametrize("query, expected", [({}, (0, 10)), ({"offset": "5", "limit": "128"}, (5, 128))])
def test_paging_defaults(query: dict[str, str], expected: tuple[int, int]) -> None:
    assert paging(query) == expected


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "129"}, {"offset": "-1"}, {"offset": "x"},
                                   {"limit": "１"}, {"offset": "9" * 12}])
def test_bad_paging_is_a_400(query: dict[str, str]) -> None:
    with pytest.raises(GatewayError) as caught:
        paging(query)
    assert caught.value.status == 400


def test_copy_of_documents_is_untouched() -> None:
    documents = [_page(_items(3, (RED, BLUE)))]
    before = copy.deepcopy(documents)
    filter_documents(documents, SCOPE, lambda ep: ep == BLUE, 0, 10)
    assert documents == before


def test_passthrough_with_a_condition_on_the_enterprise_project_is_a_config_error() -> None:
    data = config_data(state_dir="/tmp/unused")
    data["iam"]["domains"][0]["policies"].append({"name": "by-ep", "document": {"Version": "1.1", "Statement": [
        {"Effect": "Allow", "Action": ["ddm:*:*"],
         "Condition": {"StringEquals": {"g:EnterpriseProjectID": [RED]}}}]}})
    data["upstream"] = {"url": "http://127.0.0.1:9", "auth": {"mode": "passthrough"}}
    assert problems(data) == ["iam.domains[0].policies[1].document: a condition on g:EnterpriseProjectId "
                              "needs upstream.auth.mode aksk, token or none: with passthrough the gateway has "
                              "no credentials to look up an instance's enterprise project"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from([RED, BLUE, "0"])), max_size=60),
       st.sets(st.sampled_from([RED, BLUE, "0"])), st.integers(1, 128), st.integers(1, 5))
def test_paging_a_filtered_list_is_consistent(items: list[tuple[int, str]], allowed: set[str], limit: int,
                                              pages: int) -> None:
    """Whatever the items, their split into upstream pages and the caller's limit: the pages
    the caller reads concatenate to exactly the visible items, once each, in order, and every
    page reports the same counts."""
    listed = [{"id": f"i{n}", "enterprise_project_id": ep} for n, ep in items]
    size = max(1, -(-len(listed) // pages))
    documents = [_page(listed[o:o + size]) for o in range(0, max(len(listed), 1), size)]
    expected, seen = [], set()
    for item in listed:
        if item["id"] not in seen:
            seen.add(item["id"])
            if item["enterprise_project_id"] in allowed:
                expected.append(item["id"])
    read: list[str] = []
    for offset in range(0, len(expected) + limit, limit):
        page = json.loads(filter_documents(documents, SCOPE, allowed.__contains__, offset, limit)[0])
        assert (page["instance_num"], page["total_record"]) == (len(expected), len(expected))
        assert page["total_page"] == -(-len(expected) // limit) and page["page_no"] == offset // limit + 1
        assert page["page_size"] == len(page["instances"]) <= limit
        read += [i["id"] for i in page["instances"]]
    assert read == expected
