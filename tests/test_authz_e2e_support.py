"""Shared IAM setup for the authorization end-to-end tests (issue #8); it holds no tests.

The name starts with ``test_authz_e2e`` only because that is the file family these tests own.
One domain, ``initech``, has a group (and user) per system policy plus the custom policies the
rules need: a Deny in a second group, a Deny granted in one project only, a project-scoped
grant, an Allow on instance creation without its ECS/VPC dependencies, and conditioned
statements (g:UserName, g:CurrentTime, ddm:InstanceId and a Resource URN).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import huaweicloudsdkddm.v1 as m
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkddm.v1 import DdmClient

from .harness import TEST_LOG_DIR, ServerThread

DOMAIN_ID = "1b2c3d4e5f6a40718293a4b5c6d7e8f0"
NORTH = "1503ddae897000fed2f78c00909158a4"       # project cn-north-4
EAST = "15041fea8a8025662f4ac00927982f3e"        # project cn-east-2
OWNER_PASSWORD = "initech-root-pass"
FLAVOR_ID = "8f2e696c-a9c1-30bd-af90-25522bc67606"
ENGINE_ID = "2325a707-0361-8be6-dd01-13474bbac437"
BUY_DEPENDENCIES = ("ecs:*:get*", "ecs:*:list*", "vpc:vpcs:list", "vpc:securityGroups:get",
                    "vpc:subnets:get", "ecs:cloudServerNics:update", "ecs:serverInterfaces:use",
                    "vpc:ports:*")


def user_keys(name: str) -> tuple[str, str]:
    """A deterministic AK/SK per user name, so tests can sign as anyone in the table."""
    return (name.upper() + "AK").ljust(20, "0"), f"{name}-secret-key-".ljust(40, "0")


def _user(name: str, *groups: str) -> dict[str, Any]:
    ak, sk = user_keys(name)
    return {"id": hashlib.md5(name.encode()).hexdigest(), "name": name, "password": f"{name}-pass-1",
            "groups": list(groups), "access_keys": [{"ak": ak, "sk": sk}]}


def _policy(name: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "document": {"Version": "1.1", "Statement": list(statements)}}


def _custom_policies(deny_urn_id: str, deny_key_id: str) -> list[dict[str, Any]]:
    return [
        _policy("no-instance-delete", {"Effect": "Deny", "Action": ["ddm:instance:delete"]}),
        _policy("deny-all-ddm", {"Effect": "Deny", "Action": ["ddm:*:*"]}),
        _policy("create-without-deps", {"Effect": "Allow", "Action": ["ddm:instance:create"]}),
        _policy("only-for-condy", {"Effect": "Allow", "Action": ["ddm:*:*"],
                                   "Condition": {"StringEquals": {"g:UserName": ["condy"]}}}),
        _policy("dated", {"Effect": "Deny", "Action": ["ddm:*:*"],          # expired: never applies
                          "Condition": {"DateLessThan": {"g:CurrentTime": ["2020-01-01T00:00:00Z"]}}},
                {"Effect": "Allow", "Action": ["ddm:instance:reboot"],        # expired: never applies
                 "Condition": {"DateLessThan": {"g:CurrentTime": ["2020-01-01T00:00:00Z"]}}},
                {"Effect": "Deny", "Action": ["ddm:database:list"],          # still in force
                 "Condition": {"DateLessThan": {"g:CurrentTime": ["2999-01-01T00:00:00Z"]}}}),
        _policy("deny-one-instance", {"Effect": "Deny", "Action": ["ddm:*:*"],
                                      "Resource": [f"ddm:*:*:instance:{deny_urn_id}"]},
                {"Effect": "Deny", "Action": ["ddm:*:*"],
                 "Condition": {"StringEquals": {"ddm:InstanceId": [deny_key_id]}}}),
    ]


GROUPS: list[dict[str, Any]] = [
    {"name": "g-full", "grants": [{"policy": "DDM FullAccess"}]},
    {"name": "g-common", "grants": [{"policy": "DDM CommonOperations"}]},
    {"name": "g-read", "grants": [{"policy": "DDM ReadOnlyAccess"}]},
    {"name": "g-admin", "grants": [{"policy": "Tenant Administrator"}]},
    {"name": "g-guest", "grants": [{"policy": "Tenant Guest"}]},
    {"name": "g-no-delete", "grants": [{"policy": "no-instance-delete"}]},
    {"name": "g-east-deny", "grants": [{"policy": "deny-all-ddm", "projects": ["cn-east-2"]}]},
    {"name": "g-east-full", "grants": [{"policy": "DDM FullAccess", "projects": ["cn-east-2"]}]},
    {"name": "g-nodeps", "grants": [{"policy": "create-without-deps"}]},
    {"name": "g-cond", "grants": [{"policy": "only-for-condy"}]},
    {"name": "g-dated", "grants": [{"policy": "DDM ReadOnlyAccess"}, {"policy": "dated"}]},
    {"name": "g-res", "grants": [{"policy": "DDM FullAccess"}, {"policy": "deny-one-instance"}]},
]
USERS: list[dict[str, Any]] = [
    _user("full", "g-full"), _user("common", "g-common"), _user("reader", "g-read"),
    _user("admin", "g-admin"), _user("guest", "g-guest"),
    _user("split", "g-full", "g-no-delete"),        # Allow in one group, Deny in another
    _user("eastdeny", "g-full", "g-east-deny"),     # Allow everywhere, Deny in cn-east-2 only
    _user("eastonly", "g-east-full"),               # FullAccess in cn-east-2 only
    _user("nodeps", "g-nodeps"), _user("condy", "g-cond"), _user("condx", "g-cond"),
    _user("dated", "g-dated"), _user("res", "g-res"),
]


def authz_config(state_dir: str, upstream_url: str, deny_urn_id: str, deny_key_id: str) -> dict[str, Any]:
    """Gateway config data (harness.config_data's shape) with the initech domain."""
    domain = {"id": DOMAIN_ID, "name": "initech", "password": OWNER_PASSWORD,
              "projects": [{"id": NORTH, "name": "cn-north-4"}, {"id": EAST, "name": "cn-east-2"}],
              "policies": _custom_policies(deny_urn_id, deny_key_id), "groups": GROUPS, "users": USERS}
    return {
        "listen": {"host": "127.0.0.1", "port": 8080}, "admin": {"host": "127.0.0.1", "port": 8081},
        "region": "cn-north-4", "state_dir": state_dir,
        "limits": {"per_user_per_minute": 1000, "global_per_minute": 8000},
        "tokens": {"ttl_s": 3600}, "iam": {"domains": [domain]},
        "logging": {"access_log": str(TEST_LOG_DIR / "access.log"),
                    "audit_log": str(TEST_LOG_DIR / "audit.log"),
                    "flush_interval_s": 0.02},
        "upstream": {"url": upstream_url, "auth": {"mode": "none"}, "connect_timeout_s": 1, "timeout_s": 5},
    }


def ddm_client(url: str, ak: str, sk: str, project: str = NORTH) -> DdmClient:
    return (DdmClient.new_builder().with_credentials(BasicCredentials(ak, sk, project))
            .with_endpoints([url]).build())


def create_instance(client: DdmClient, name: str) -> str:
    """A real instance in the simulator (the valid CreateInstance body of test_ddmsim_sdk)."""
    detail = m.CreateInstanceDetail(name=name, flavor_id=FLAVOR_ID, node_num=2, engine_id=ENGINE_ID,
                                    available_zones=["az1"], vpc_id="vpc-1", security_group_id="sg-1",
                                    subnet_id="subnet-1")
    return client.create_instance(m.CreateInstanceRequest(body=m.CreateInstanceReq(instance=detail))).id


def expect_denied(call: Callable[[], Any], *actions: str) -> ClientRequestException:
    """The SDK sees 403 APIGW.0302 and a message naming every denied action."""
    with pytest.raises(ClientRequestException) as caught:
        call()
    error = caught.value
    assert (error.status_code, error.error_code) == (403, "APIGW.0302"), error
    for action in actions:
        assert action in error.error_msg, (action, error.error_msg)
    return error


@dataclass
class AuthzStack:
    """Simulator + gateway on 127.0.0.1 and the ids of instances created before the gateway."""

    servers: ServerThread
    url: str
    sim_url: str
    urn_denied: str      # instance denied to `res` by a Resource URN
    key_denied: str      # instance denied to `res` by a ddm:InstanceId condition
    open_id: str         # instance nothing denies

    def client(self, user: str, project: str = NORTH) -> DdmClient:
        return ddm_client(self.url, *user_keys(user), project=project)


def start_authz_stack(state_dir: str, *, authz: dict[str, Any] | None = None) -> AuthzStack:
    """Instances are created in the simulator first, so policies can name their ids."""
    from ddmsim import create_app as create_sim
    from gateway.http.app import create_app
    from gateway.config import parse_config

    servers = ServerThread()
    sim_url = f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
    direct = ddm_client(sim_url, "SIMAK0000000000000001", "sim-secret")
    ids = [create_instance(direct, f"pre-{n}") for n in range(3)]
    data = authz_config(state_dir, sim_url, ids[0], ids[1])
    if authz is not None:
        data["authz"] = authz
    config = parse_config(data)
    port = servers.serve(create_app(config))
    return AuthzStack(servers, f"http://127.0.0.1:{port}", sim_url, *ids)
