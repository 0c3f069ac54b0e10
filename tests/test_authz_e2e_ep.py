"""Issue #20, end to end: team isolation by enterprise project on one shared endpoint.

The official DDM SDK through a real gateway in front of the simulator: team-red and team-blue
each hold DDM FullAccess in their own enterprise project of one IAM project, `boss` holds it in
the whole project. Each team sees and touches only its own instances; the administrator sees
everything, byte for byte as DDM answered.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import huaweicloudsdkddm.v1 as m
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkddm.v1 import DdmClient

from gateway.services import SERVICES

from .stack import http
from .test_authz_e2e_ep_support import (BLUE, GREEN, PROJECT, RED, EpStack, access_records,
                                        audit_records, create_in, list_all, start_ep_stack)
from .test_authz_e2e_support import expect_denied, user_keys


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EpStack]:
    stack = start_ep_stack(str(tmp_path_factory.mktemp("gw-ep")), replicas=2)
    yield stack
    stack.servers.close()


@pytest.fixture(scope="module")
def owned(stack: EpStack) -> dict[str, str]:
    """One instance per team (and one in "0"), each created by its team through the gateway."""
    return {"red": create_in(stack.client("red"), "red-one", RED),
            "blue": create_in(stack.client("blue"), "blue-one", BLUE),
            "default": create_in(stack.client("boss"), "zero-one", None)}


def show(client: DdmClient, instance_id: str) -> Any:
    return client.show_instance(m.ShowInstanceRequest(instance_id=instance_id))


def listed_ids(client: DdmClient) -> set[str]:
    return set(list_all(client, 128)[0])


def sim_eps(stack: EpStack) -> dict[str, str]:
    listed = stack.sim().list_instances(m.ListInstancesRequest(limit=128))
    return {i.id: i.enterprise_project_id for i in listed.instances}


# ---- create ---------------------------------------------------------------------------------

def test_each_team_creates_in_its_own_enterprise_project(stack: EpStack, owned: dict[str, str]) -> None:
    eps = sim_eps(stack)
    assert (eps[owned["red"]], eps[owned["blue"]], eps[owned["default"]]) == (RED, BLUE, "0")


@pytest.mark.parametrize("team, elsewhere", [("red", BLUE), ("red", None), ("red", "0"),
                                             ("blue", RED), ("blue", None)])
def test_a_team_may_not_create_elsewhere(stack: EpStack, team: str, elsewhere: str | None) -> None:
    before = len(sim_eps(stack))
    expect_denied(lambda: create_in(stack.client(team), f"{team}-stray", elsewhere), "ddm:instance:create")
    assert len(sim_eps(stack)) == before


def test_create_with_duplicate_enterprise_project_keys_is_refused(stack: EpStack) -> None:
    body = (b'{"instance": {"name": "dup-keys", "flavor_id": "f", "node_num": 1, "engine_id": "e",'
            b' "enterprise_project_id": "%s", "enterprise_project_id": "%s", "available_zones": ["az1"],'
            b' "vpc_id": "v", "security_group_id": "s", "subnet_id": "n"}}' % (RED.encode(), BLUE.encode()))
    reply = http("POST", f"{stack.urls[0]}/v1/{PROJECT}/instances", body=body, ak=user_keys("red")[0],
                 sk=user_keys("red")[1], headers={"X-Project-Id": PROJECT})
    assert reply.status == 400 and reply.json()["error_code"] == "APIGW.0201"


# ---- lists ----------------------------------------------------------------------------------

def test_lists_show_each_team_exactly_its_own(stack: EpStack, owned: dict[str, str]) -> None:
    eps = sim_eps(stack)
    for team, ep in (("red", RED), ("blue", BLUE)):
        page = stack.client(team).list_instances(m.ListInstancesRequest(limit=128))
        mine = {i for i, e in eps.items() if e == ep}
        assert {i.id for i in page.instances} == mine and owned[team] in mine
        assert page.instance_num == page.total_record == len(mine) and page.total_page == 1
        assert {i.enterprise_project_id for i in page.instances} == {ep}


def test_the_administrator_sees_everything_byte_for_byte(stack: EpStack, owned: dict[str, str]) -> None:
    path = f"/v1/{PROJECT}/instances?limit=128"
    boss = http("GET", stack.urls[0] + path, ak=user_keys("boss")[0], sk=user_keys("boss")[1],
                headers={"X-Project-Id": PROJECT})
    direct = http("GET", stack.sim_url + path, headers={"X-Project-Id": PROJECT})
    assert boss.status == 200 and boss.body == direct.body
    assert set(owned.values()) <= {i["id"] for i in boss.json()["instances"]}


def test_a_deny_in_another_enterprise_project_hides_its_instances(stack: EpStack, owned: dict[str, str]) -> None:
    seen = listed_ids(stack.client("notblue"))
    assert owned["red"] in seen and owned["default"] in seen and owned["blue"] not in seen


def test_a_project_wide_policy_conditioned_on_the_enterprise_project(stack: EpStack,
                                                                     owned: dict[str, str]) -> None:
    client = stack.client("condblue")
    assert owned["blue"] in listed_ids(client) and owned["red"] not in listed_ids(client)
    assert show(client, owned["blue"]).id == owned["blue"]
    expect_denied(lambda: show(client, owned["red"]), "ddm:instance:get")
    expect_denied(lambda: create_in(client, "cond-red", RED), "ddm:instance:create")
    made = create_in(client, "cond-blue", BLUE)
    assert sim_eps(stack)[made] == BLUE


def test_grants_only_in_an_empty_enterprise_project_give_an_empty_list(stack: EpStack,
                                                                       owned: dict[str, str]) -> None:
    page = stack.client("loner").list_instances(m.ListInstancesRequest())
    assert (page.instances, page.instance_num, page.total_record, page.total_page) == ([], 0, 0, 0)


def test_no_grant_at_all_is_still_403_for_a_list(stack: EpStack) -> None:
    expect_denied(lambda: stack.client("nobody").list_instances(m.ListInstancesRequest()), "ddm:instance:list")


def test_bad_paging_of_a_filtered_list_is_a_400(stack: EpStack) -> None:
    reply = http("GET", f"{stack.urls[0]}/v1/{PROJECT}/instances?limit=129", ak=user_keys("red")[0],
                 sk=user_keys("red")[1], headers={"X-Project-Id": PROJECT})
    assert reply.status == 400 and set(reply.json()) >= {"errCode", "externalMessage", "error_code"}


def test_v3_list_and_show_are_filtered_too(stack: EpStack, owned: dict[str, str]) -> None:
    red = stack.client("red")
    listed = red.list_ddms(m.ListDdmsRequest(limit=128))
    assert owned["red"] in {i.id for i in listed.instances} and owned["blue"] not in {i.id for i in listed.instances}
    assert listed.instance_num == listed.total == len(listed.instances)
    assert [i.id for i in red.show_ddm_detail(m.ShowDdmDetailRequest(instance_id=owned["red"])).instances] \
        == [owned["red"]]
    expect_denied(lambda: red.show_ddm_detail(m.ShowDdmDetailRequest(instance_id=owned["blue"])), "ddm:instance:get")
    body = m.CreateDdmInstanceReq(name="red-v3", available_zones=["az1"], node_num=1, flavor_ref="ddm.c6.large.2",
                                  vpc_id="v", subnet_id="n", security_group_id="s", enterprise_project_id=BLUE)
    expect_denied(lambda: red.create_ddm_instance(m.CreateDdmInstanceRequest(body=body)), "ddm:instance:create")
    body.enterprise_project_id = RED
    made = red.create_ddm_instance(m.CreateDdmInstanceRequest(body=body)).id
    assert sim_eps(stack)[made] == RED
    red.delete_ddm_instance(m.DeleteDdmInstanceRequest(instance_id=made))
    assert made not in sim_eps(stack)


# ---- the other team's instance ----------------------------------------------------------------

OTHER_TEAM_CALLS: list[tuple[str, Callable[[DdmClient, str], Any]]] = [
    ("ddm:instance:get", show),
    ("ddm:instance:modify", lambda c, i: c.update_instance_name(m.UpdateInstanceNameRequest(
        instance_id=i, body=m.ModifyInstanceNameReq(name="stolen-name")))),
    ("ddm:instance:delete", lambda c, i: c.delete_instance(m.DeleteInstanceRequest(instance_id=i))),
    ("ddm:database:list", lambda c, i: c.list_databases(m.ListDatabasesRequest(instance_id=i))),
    ("ddm:user:list", lambda c, i: c.list_users(m.ListUsersRequest(instance_id=i))),
    ("ddm:instance:get", lambda c, i: c.list_nodes(m.ListNodesRequest(instance_id=i))),
    ("ddm:instance:reboot", lambda c, i: c.restart_instance(m.RestartInstanceRequest(
        instance_id=i, body=m.RestartInstanceReq(restart=m.RestarInstanceInfo(type="soft"))))),
]


@pytest.mark.parametrize("action, call", OTHER_TEAM_CALLS)
def test_the_other_teams_instance_is_403(stack: EpStack, owned: dict[str, str], action: str,
                                         call: Callable[[DdmClient, str], Any]) -> None:
    expect_denied(lambda: call(stack.client("red"), owned["blue"]), action)
    expect_denied(lambda: call(stack.client("blue"), owned["red"]), action)
    expect_denied(lambda: call(stack.client("red"), owned["default"]), action)
    assert sim_eps(stack)[owned["blue"]] == BLUE     # still there, unchanged
    assert show(stack.sim(), owned["blue"]).name == "blue-one"


def test_a_team_works_on_its_own_instance(stack: EpStack) -> None:
    red = stack.client("red")
    made = create_in(red, "red-work", RED)
    red.update_instance_name(m.UpdateInstanceNameRequest(instance_id=made, body=m.ModifyInstanceNameReq(
        name="red-renamed")))
    assert show(red, made).name == "red-renamed"
    assert red.list_nodes(m.ListNodesRequest(instance_id=made)).nodes
    assert red.list_users(m.ListUsersRequest(instance_id=made)).users is not None
    red.delete_instance(m.DeleteInstanceRequest(instance_id=made))
    assert made not in sim_eps(stack)


def test_a_deny_in_an_enterprise_project_grant(stack: EpStack, owned: dict[str, str]) -> None:
    careful = stack.client("careful")
    assert show(careful, owned["red"]).id == owned["red"]
    expect_denied(lambda: careful.delete_instance(m.DeleteInstanceRequest(instance_id=owned["red"])),
                  "ddm:instance:delete")
    assert owned["red"] in sim_eps(stack)
    assert stack.client("red").list_instances(m.ListInstancesRequest(limit=128)).total_record >= 1


def test_an_unknown_instance_is_403_for_a_team_and_404_for_the_administrator(stack: EpStack) -> None:
    unknown = "f" * 32 + "in09"
    expect_denied(lambda: show(stack.client("red"), unknown), "ddm:instance:get")
    with pytest.raises(ClientRequestException) as caught:
        show(stack.client("boss"), unknown)
    assert caught.value.status_code == 404


# ---- the enterprise-project cache --------------------------------------------------------------

def sim_requests(stack: EpStack) -> list[dict[str, Any]]:
    return http("GET", stack.sim_url + "/_sim/requests").json()["requests"]


def test_a_cached_lookup_asks_nothing_upstream(stack: EpStack, owned: dict[str, str]) -> None:
    red = stack.client("red")
    stack.forget_all()
    show(red, owned["red"])                                  # miss: one lookup, then the show
    http("DELETE", stack.sim_url + "/_sim/requests")
    before = stack.lookups()
    show(red, owned["red"])                                  # hit: the show alone
    paths = [r["path"] for r in sim_requests(stack)]
    assert paths == [f"/v1/{PROJECT}/instances/{owned['red']}"]
    after = stack.lookups()
    assert after["hit"] == before.get("hit", 0) + 1 and after.get("miss") == before.get("miss")
    rendered = stack.apps[0][SERVICES].observability.metrics.render()
    assert f'ddmgw_enterprise_project_lookups_total{{result="hit"}} {after["hit"]:g}' in rendered


def test_lists_teach_the_cache(stack: EpStack, owned: dict[str, str]) -> None:
    stack.forget_all()
    stack.client("boss").list_instances(m.ListInstancesRequest(limit=128))   # learned from an answer
    before = stack.lookups()
    show(stack.client("red"), owned["red"])
    expect_denied(lambda: show(stack.client("red"), owned["blue"]), "ddm:instance:get")
    assert stack.lookups()["hit"] == before.get("hit", 0) + 2 and stack.lookups().get("miss") == before.get("miss")


def test_two_replicas_agree(stack: EpStack) -> None:
    made = create_in(stack.client("red", replica=0), "red-two", RED)
    assert show(stack.client("red", replica=1), made).id == made           # replica 1 asks DDM
    expect_denied(lambda: show(stack.client("blue", replica=1), made), "ddm:instance:get")
    assert listed_ids(stack.client("red", 0)) == listed_ids(stack.client("red", 1))
    assert listed_ids(stack.client("blue", 0)) == listed_ids(stack.client("blue", 1))
    stack.client("red", replica=1).delete_instance(m.DeleteInstanceRequest(instance_id=made))


def test_the_audit_and_access_logs_name_the_enterprise_project(stack: EpStack, owned: dict[str, str]) -> None:
    ak, sk = user_keys("blue")
    reply = http("GET", f"{stack.urls[0]}/v1/{PROJECT}/instances/{owned['red']}", ak=ak, sk=sk,
                 headers={"X-Project-Id": PROJECT})
    assert reply.status == 403
    request_id = reply.headers["X-Request-Id"]
    [audit] = audit_records(request_id)
    assert (audit["enterprise_project"], audit["decision"]) == (RED, "deny")
    assert access_records(request_id)[0]["enterprise_project"] == RED
    listed = http("GET", f"{stack.urls[0]}/v1/{PROJECT}/instances", ak=ak, sk=sk, headers={"X-Project-Id": PROJECT})
    assert access_records(listed.headers["X-Request-Id"])[0]["enterprise_project"] == [BLUE]


# ---- many instances ---------------------------------------------------------------------------

def test_150_instances_across_three_enterprise_projects_page_consistently(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    stack = start_ep_stack(str(tmp_path_factory.mktemp("gw-ep-150")))
    try:
        sim = stack.sim()
        made: dict[str, set[str]] = {RED: set(), BLUE: set(), GREEN: set()}
        for n in range(150):
            ep = (RED, BLUE, GREEN)[n % 3]
            made[ep].add(create_in(sim, f"many-{n:03d}", ep))
        for team, ep in (("red", RED), ("blue", BLUE)):
            for limit in (7, 50, 128):
                ids, pages = list_all(stack.client(team), limit)
                assert len(ids) == len(set(ids)) and set(ids) == made[ep]
                assert {(p.instance_num, p.total_record, p.total_page) for p in pages} == \
                    {(50, 50, -(-50 // limit))}
                assert [p.page_no for p in pages] == list(range(1, len(pages) + 1))
        boss = stack.client("boss").list_instances(m.ListInstancesRequest(limit=10))
        assert boss.total_record == 150                        # unfiltered: DDM's own paging
        assert json.loads(json.dumps(sorted(made[RED]))) == sorted(list_all(stack.client("red"), 128)[0])
    finally:
        stack.servers.close()


# ---- DDM unreachable during a lookup ------------------------------------------------------------

def test_upstream_down_during_a_lookup_is_a_prompt_502(tmp_path_factory: pytest.TempPathFactory) -> None:
    from .harness import ServerThread
    servers = ServerThread()
    try:
        import socket
        with socket.socket() as probe:             # a port with nothing listening
            probe.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
        stack = start_ep_stack(str(tmp_path_factory.mktemp("gw-ep-down")), servers=servers, upstream_url=dead)
        with pytest.raises(ServerResponseException) as caught:
            show(stack.client("red"), "a" * 32 + "in09")
        assert (caught.value.status_code, caught.value.error_code) == (502, "APIGW.0201")
        assert stack.lookups() == {"failure": 1}
    finally:
        servers.close()


def test_a_silent_upstream_during_a_lookup_is_a_504(tmp_path_factory: pytest.TempPathFactory) -> None:
    import asyncio

    from .harness import ServerThread
    servers = ServerThread()

    async def silent() -> int:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            await asyncio.sleep(30)
        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        return int(server.sockets[0].getsockname()[1])
    try:
        port = servers.run(silent())
        stack = start_ep_stack(str(tmp_path_factory.mktemp("gw-ep-silent")), servers=servers,
                               upstream_url=f"http://127.0.0.1:{port}",
                               enterprise_project_lookup_timeout_s=0.3)
        with pytest.raises(ServerResponseException) as caught:
            show(stack.client("red"), "b" * 32 + "in09")
        assert caught.value.status_code == 504
        assert stack.lookups() == {"failure": 1}
    finally:
        servers.close()


def test_a_token_callers_create_is_decided_by_its_body(stack: EpStack) -> None:
    """With a token the signature covers no body: the gateway reads it (after authentication)."""
    login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "red", "password": "red-pass-1", "domain": {"name": "umbrella"}}}},
        "scope": {"project": {"id": PROJECT}}}}
    issued = http("POST", f"{stack.urls[0]}/v3/auth/tokens", body=json.dumps(login).encode())
    assert issued.status == 201, issued.body
    token = issued.headers["X-Subject-Token"]

    def create(ep: str) -> Any:
        body = {"instance": {"name": f"tok-{ep[:4]}", "flavor_id": "8f2e696c-a9c1-30bd-af90-25522bc67606",
                             "node_num": 1, "engine_id": "2325a707-0361-8be6-dd01-13474bbac437",
                             "enterprise_project_id": ep, "available_zones": ["az1"], "vpc_id": "v",
                             "security_group_id": "s", "subnet_id": "n"}}
        return http("POST", f"{stack.urls[0]}/v1/{PROJECT}/instances", body=json.dumps(body).encode(),
                    headers={"X-Auth-Token": token})
    denied = create(BLUE)
    assert denied.status == 403 and "ddm:instance:create" in denied.json()["error_msg"]
    made = create(RED)
    assert made.status == 200, made.body
    assert sim_eps(stack)[made.json()["id"]] == RED
    before = stack.lookups()
    assert show(stack.client("red"), made.json()["id"]).enterprise_project_id == RED
    assert stack.lookups()["hit"] == before["hit"] + 1 and stack.lookups().get("miss") == before.get("miss")
