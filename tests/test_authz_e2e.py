"""Issue #8, end to end: each system policy through the gateway with the official DDM SDK.

For every system policy one user who holds only that policy performs an operation the policy
allows (it must reach the simulator and change or return real state) and one it does not
(403 APIGW.0302 naming the action, and the simulator's state is unchanged). The domain owner,
who holds no grant at all, may do everything.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import huaweicloudsdkddm.v1 as m
import pytest
from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkddm.v1 import DdmClient
from huaweicloudsdkiam.v3 import (AuthScope, AuthScopeProject, IamClient, KeystoneCreateUserTokenByPasswordRequest,
                                  KeystoneCreateUserTokenByPasswordRequestBody, PwdAuth, PwdIdentity,
                                  PwdPassword, PwdPasswordUser, PwdPasswordUserDomain)

from .harness import ISSUED_TOKENS, TEST_LOG_DIR
from .test_authz_e2e_support import (EAST, NORTH, OWNER_PASSWORD, USERS, AuthzStack, create_instance,
                                     ddm_client, expect_denied, start_authz_stack)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthzStack]:
    stack = start_authz_stack(str(tmp_path_factory.mktemp("gw-authz")))
    yield stack
    stack.servers.close()


def sim(stack: AuthzStack) -> DdmClient:
    """The simulator directly, to check state behind the gateway's back."""
    return ddm_client(stack.sim_url, "SIMAK0000000000000001", "sim-secret")


def instance_names(stack: AuthzStack) -> set[str]:
    return {i.name for i in sim(stack).list_instances(m.ListInstancesRequest()).instances}


def show(client: DdmClient, instance_id: str) -> Any:
    return client.show_instance(m.ShowInstanceRequest(instance_id=instance_id))


# ---- DDM FullAccess -----------------------------------------------------------------------------

def test_full_access_buys_and_deletes_an_instance(stack: AuthzStack) -> None:
    client = stack.client("full")
    instance_id = create_instance(client, "full-made")       # needs the ECS/VPC dependencies too
    assert show(client, instance_id).name == "full-made"
    client.delete_instance(m.DeleteInstanceRequest(instance_id=instance_id))
    assert "full-made" not in instance_names(stack)


def test_full_access_granted_in_one_project_is_denied_in_another(stack: AuthzStack) -> None:
    assert stack.client("eastonly", EAST).list_instances(m.ListInstancesRequest()).instances is not None
    expect_denied(lambda: stack.client("eastonly", NORTH).list_instances(m.ListInstancesRequest()),
                  "ddm:instance:list")


# ---- DDM CommonOperations -----------------------------------------------------------------------

def test_common_operations_renames_and_restarts(stack: AuthzStack) -> None:
    client = stack.client("common")
    client.update_instance_name(m.UpdateInstanceNameRequest(
        instance_id=stack.open_id, body=m.ModifyInstanceNameReq(name="common-renamed")))
    assert show(sim(stack), stack.open_id).name == "common-renamed"
    client.restart_instance(m.RestartInstanceRequest(
        instance_id=stack.open_id, body=m.RestartInstanceReq(restart=m.RestarInstanceInfo(type="soft"))))


@pytest.mark.parametrize("action, call", [
    ("ddm:instance:create", lambda s, c: create_instance(c, "common-made")),
    ("ddm:instance:delete", lambda s, c: c.delete_instance(m.DeleteInstanceRequest(instance_id=s.open_id))),
    ("ddm:instance:scale", lambda s, c: c.expand_instance_nodes(m.ExpandInstanceNodesRequest(
        instance_id=s.open_id, body=m.EnlargeRequest(flavor_id="8f2e696c-a9c1-30bd-af90-25522bc67606",
                                                     node_number=1)))),
])
def test_common_operations_may_not_buy_delete_or_scale(stack: AuthzStack, action: str,
                                                       call: Callable[[AuthzStack, DdmClient], Any]) -> None:
    before = sim(stack).list_instances(m.ListInstancesRequest()).instances
    error = expect_denied(lambda: call(stack, stack.client("common")), action)
    assert error.error_msg.count("ddm:") == 1, error.error_msg     # only the route's action
    after = sim(stack).list_instances(m.ListInstancesRequest()).instances
    assert [(i.id, i.node_count) for i in after] == [(i.id, i.node_count) for i in before]


# ---- DDM ReadOnlyAccess -------------------------------------------------------------------------

def test_read_only_lists_and_shows(stack: AuthzStack) -> None:
    client = stack.client("reader")
    listed = {i.id for i in client.list_instances(m.ListInstancesRequest()).instances}
    assert {stack.urn_denied, stack.key_denied, stack.open_id} <= listed
    assert show(client, stack.key_denied).id == stack.key_denied


def test_read_only_may_not_modify(stack: AuthzStack) -> None:
    before = show(sim(stack), stack.key_denied).name
    expect_denied(lambda: stack.client("reader").update_instance_name(m.UpdateInstanceNameRequest(
        instance_id=stack.key_denied, body=m.ModifyInstanceNameReq(name="reader-renamed"))),
        "ddm:instance:modify")
    assert show(sim(stack), stack.key_denied).name == before


# ---- Tenant Administrator -----------------------------------------------------------------------

def test_tenant_administrator_buys_and_deletes_an_instance(stack: AuthzStack) -> None:
    """Allow *:*:* covers ddm and every dependency. Its Deny identity:*:* names no DDM route, so
    the denied half of this policy is checked by `policy simulate` in test_policy_cli.py."""
    client = stack.client("admin")
    instance_id = create_instance(client, "admin-made")
    client.delete_instance(m.DeleteInstanceRequest(instance_id=instance_id))
    assert "admin-made" not in instance_names(stack)


# ---- Tenant Guest -------------------------------------------------------------------------------

def test_tenant_guest_reads(stack: AuthzStack) -> None:
    client = stack.client("guest")
    assert show(client, stack.urn_denied).id == stack.urn_denied    # get + the vpc get/list deps
    assert client.list_databases(m.ListDatabasesRequest(instance_id=stack.urn_denied)) is not None


def test_tenant_guest_may_not_restart(stack: AuthzStack) -> None:
    expect_denied(lambda: stack.client("guest").restart_instance(m.RestartInstanceRequest(
        instance_id=stack.urn_denied, body=m.RestartInstanceReq(restart=m.RestarInstanceInfo(type="soft")))),
        "ddm:instance:reboot")


# ---- the domain owner ---------------------------------------------------------------------------

def owner_token(stack: AuthzStack) -> str:
    iam = (IamClient.new_builder().with_credentials(GlobalCredentials("UNUSEDAK000000000000", "unused"))
           .with_endpoints([stack.url]).build())
    body = KeystoneCreateUserTokenByPasswordRequestBody(auth=PwdAuth(
        identity=PwdIdentity(methods=["password"], password=PwdPassword(user=PwdPasswordUser(
            domain=PwdPasswordUserDomain(name="initech"), name="initech", password=OWNER_PASSWORD))),
        scope=AuthScope(project=AuthScopeProject(name="cn-north-4"))))
    response = iam.keystone_create_user_token_by_password(
        KeystoneCreateUserTokenByPasswordRequest(nocatalog="true", body=body))
    ISSUED_TOKENS.append(response.x_subject_token)
    return response.x_subject_token


def test_domain_owner_without_grants_may_do_everything(stack: AuthzStack) -> None:
    client = ddm_client(stack.url, "UNUSEDAK000000000000", "unused")
    client.preset_headers["X-Auth-Token"] = owner_token(stack)
    instance_id = create_instance(client, "owner-made")
    client.delete_instance(m.DeleteInstanceRequest(instance_id=instance_id))
    assert "owner-made" not in instance_names(stack)


# ---- runs last in this module: the identities above leak no secret into the logs ---------------

def test_no_initech_secret_or_token_in_the_logs(stack: AuthzStack) -> None:
    """test_zz_no_secrets_in_logs knows only harness.py's domains, so this module checks its own."""
    needles = [OWNER_PASSWORD] + [s for user in USERS for s in
                                  [user["password"]] + [k["sk"] for k in user["access_keys"]]]
    needles += ISSUED_TOKENS
    audit = (TEST_LOG_DIR / "audit.log").read_text(encoding="utf-8")
    assert "ddm:instance:scale" in audit, "the denials above should have been audited"
    for path in TEST_LOG_DIR.iterdir():
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not [n for n in needles if n in text], f"{path.name} contains a secret or token"
