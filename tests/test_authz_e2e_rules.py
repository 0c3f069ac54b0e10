"""Issue #8, end to end with the official DDM SDK: how grants combine and when statements apply.

Deny wins across groups and within the project a Deny is granted for; project-scoped grants;
dependent ECS/VPC actions (every missing one is named, and `authz.enforce_dependencies: false`
turns the check off); conditions on g:UserName, g:CurrentTime and ddm:InstanceId, and a
Resource URN naming one instance.
"""
from __future__ import annotations

from typing import Iterator

import huaweicloudsdkddm.v1 as m
import pytest

from .test_authz_e2e_support import (BUY_DEPENDENCIES, EAST, NORTH, AuthzStack, create_instance,
                                     ddm_client, expect_denied, start_authz_stack)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthzStack]:
    stack = start_authz_stack(str(tmp_path_factory.mktemp("gw-authz-rules")))
    yield stack
    stack.servers.close()


def sim_ids(stack: AuthzStack) -> list[str]:
    sim = ddm_client(stack.sim_url, "SIMAK0000000000000001", "sim-secret")
    return sorted(i.id for i in sim.list_instances(m.ListInstancesRequest()).instances)


def show_request(instance_id: str) -> m.ShowInstanceRequest:
    return m.ShowInstanceRequest(instance_id=instance_id)


# ---- deny precedence ----------------------------------------------------------------------------

def test_a_deny_in_one_group_beats_an_allow_in_another(stack: AuthzStack) -> None:
    client = stack.client("split")                 # g-full (FullAccess) + g-no-delete (Deny delete)
    assert client.show_instance(show_request(stack.open_id)).id == stack.open_id
    expect_denied(lambda: client.delete_instance(m.DeleteInstanceRequest(instance_id=stack.open_id)),
                  "ddm:instance:delete")
    assert stack.open_id in sim_ids(stack)


def test_a_deny_granted_in_one_project_applies_only_there(stack: AuthzStack) -> None:
    """FullAccess for every project + Deny ddm:*:* granted for cn-east-2 only."""
    assert stack.client("eastdeny", NORTH).list_instances(m.ListInstancesRequest()).instances
    east = stack.client("eastdeny", EAST)
    expect_denied(lambda: east.list_instances(m.ListInstancesRequest()), "ddm:instance:list")
    error = expect_denied(lambda: create_instance(east, "east-made"), "ddm:instance:create")
    assert "vpc:" not in error.error_msg         # the action itself is denied; deps are moot


def test_a_project_scoped_grant_covers_only_its_project(stack: AuthzStack) -> None:
    east = stack.client("eastonly", EAST)
    instance_id = create_instance(east, "east-only")
    assert east.show_instance(show_request(instance_id)).name == "east-only"
    north = stack.client("eastonly", NORTH)
    expect_denied(lambda: north.show_instance(show_request(stack.open_id)), "ddm:instance:get")
    expect_denied(lambda: create_instance(north, "north-made"), "ddm:instance:create")


# ---- dependent actions --------------------------------------------------------------------------

def test_create_without_its_dependencies_names_every_missing_one(stack: AuthzStack) -> None:
    before = sim_ids(stack)
    error = expect_denied(lambda: create_instance(stack.client("nodeps"), "nodeps-made"), *BUY_DEPENDENCIES)
    assert "ddm:instance:create" not in error.error_msg     # that one is allowed
    assert sim_ids(stack) == before


def test_only_the_granted_action_is_allowed(stack: AuthzStack) -> None:
    expect_denied(lambda: stack.client("nodeps").list_instances(m.ListInstancesRequest()), "ddm:instance:list")


def test_dependencies_are_not_checked_when_enforcement_is_off(tmp_path) -> None:
    lax = start_authz_stack(str(tmp_path), authz={"enforce_dependencies": False})
    try:
        instance_id = create_instance(lax.client("nodeps"), "nodeps-made")
        assert instance_id in sim_ids(lax)
    finally:
        lax.servers.close()


# ---- conditions ---------------------------------------------------------------------------------

def test_a_g_username_condition_allows_only_that_user(stack: AuthzStack) -> None:
    assert stack.client("condy").list_instances(m.ListInstancesRequest()).instances is not None
    expect_denied(lambda: stack.client("condx").list_instances(m.ListInstancesRequest()), "ddm:instance:list")


def test_an_expired_g_currenttime_statement_neither_denies_nor_allows(stack: AuthzStack) -> None:
    client = stack.client("dated")        # ReadOnly + expired Deny ddm:*:* + expired Allow reboot
    assert client.list_instances(m.ListInstancesRequest()).instances
    expect_denied(lambda: client.restart_instance(m.RestartInstanceRequest(
        instance_id=stack.open_id, body=m.RestartInstanceReq(restart=m.RestarInstanceInfo(type="soft")))),
        "ddm:instance:reboot")


def test_a_g_currenttime_statement_still_in_force_denies(stack: AuthzStack) -> None:
    expect_denied(lambda: stack.client("dated").list_databases(
        m.ListDatabasesRequest(instance_id=stack.open_id)), "ddm:database:list")


@pytest.mark.parametrize("which", ["urn_denied", "key_denied"])
def test_a_deny_on_one_instance_leaves_the_others(stack: AuthzStack, which: str) -> None:
    """`res` holds FullAccess plus Deny on one instance by Resource URN and one by ddm:InstanceId."""
    client, denied = stack.client("res"), getattr(stack, which)
    expect_denied(lambda: client.show_instance(show_request(denied)), "ddm:instance:get")
    expect_denied(lambda: client.list_databases(m.ListDatabasesRequest(instance_id=denied)), "ddm:database:list")
    assert client.show_instance(show_request(stack.open_id)).id == stack.open_id
    assert client.list_databases(m.ListDatabasesRequest(instance_id=stack.open_id)) is not None


def test_a_resource_scoped_deny_does_not_cover_unnamed_resources(stack: AuthzStack) -> None:
    listed = {i.id for i in stack.client("res").list_instances(m.ListInstancesRequest()).instances}
    assert {stack.urn_denied, stack.key_denied, stack.open_id} <= listed
