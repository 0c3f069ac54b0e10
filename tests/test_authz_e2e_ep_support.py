"""Shared setup for the enterprise-project end-to-end tests (issue #20); it holds no tests.

One domain, ``umbrella``, one IAM project and three enterprise projects. team-red and team-blue
each hold DDM FullAccess in their own enterprise project only; the administrator holds it in
the whole project. Further users: a Deny inside an enterprise-project grant, a project-wide
policy conditioned on g:EnterpriseProjectId, and a project-wide FullAccess with a Deny granted
in team-blue only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import huaweicloudsdkddm.v1 as m
from aiohttp import web
from huaweicloudsdkddm.v1 import DdmClient

from gateway.services import SERVICES

from .harness import TEST_LOG_DIR, ServerThread
from .test_authz_e2e_support import BUY_DEPENDENCIES, ENGINE_ID, FLAVOR_ID, authz_config, ddm_client, user_keys
from .test_logs_support import record_of

DOMAIN_ID = "5d6e7f8091a24b3c8d9e0f1a2b3c4d5e"
PROJECT = "2503ddae897000fed2f78c00909158a4"
RED = "7a1c9e52-3b4d-4e6f-8a9b-0c1d2e3f4a5b"
BLUE = "b2d4f6a8-1c3e-4a5b-9c7d-e1f2a3b4c5d6"
GREEN = "c3e5a7b9-2d4f-4b6c-8d0e-f2a3b4c5d6e7"
SIM_AK, SIM_SK = "SIMAK0000000000000001", "sim-secret"


def _user(name: str, *groups: str) -> dict[str, Any]:
    ak, sk = user_keys(name)
    return {"id": hashlib.md5(f"ep-{name}".encode()).hexdigest(), "name": name,
            "password": f"{name}-pass-1", "groups": list(groups), "access_keys": [{"ak": ak, "sk": sk}]}


def _policy(name: str, *statements: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "document": {"Version": "1.1", "Statement": list(statements)}}


POLICIES = [
    _policy("no-delete", {"Effect": "Deny", "Action": ["ddm:instance:delete"]}),
    _policy("deny-ddm", {"Effect": "Deny", "Action": ["ddm:*:*"]}),
    _policy("blue-by-condition", {"Effect": "Allow", "Action": ["ddm:*:*", "vpc:*:*", *BUY_DEPENDENCIES],
                                  "Condition": {"StringEquals": {"g:EnterpriseProjectId": [BLUE]}}}),
]
GROUPS = [
    {"name": "red", "grants": [{"policy": "DDM FullAccess", "enterprise_projects": ["team-red"]}]},
    {"name": "blue", "grants": [{"policy": "DDM FullAccess", "enterprise_projects": [BLUE]}]},
    {"name": "admins", "grants": [{"policy": "DDM FullAccess"}]},
    {"name": "red-careful", "grants": [{"policy": "DDM FullAccess", "enterprise_projects": ["team-red"]},
                                       {"policy": "no-delete", "enterprise_projects": ["team-red"]}]},
    {"name": "blue-cond", "grants": [{"policy": "blue-by-condition"}]},
    {"name": "not-blue", "grants": [{"policy": "DDM FullAccess"},
                                    {"policy": "deny-ddm", "enterprise_projects": ["team-blue"]}]},
    {"name": "empty-ep", "grants": [{"policy": "DDM FullAccess", "enterprise_projects": ["team-empty"]}]},
]
USERS = [_user("red", "red"), _user("blue", "blue"), _user("boss", "admins"),
         _user("careful", "red-careful"), _user("condblue", "blue-cond"), _user("notblue", "not-blue"),
         _user("loner", "empty-ep"), _user("nobody")]


def ep_config(state_dir: str, upstream_url: str, **authz: Any) -> dict[str, Any]:
    domain = {"id": DOMAIN_ID, "name": "umbrella", "password": "umbrella-root-pass",
              "projects": [{"id": PROJECT, "name": "cn-north-4"}],
              "enterprise_projects": [{"id": RED, "name": "team-red"}, {"id": BLUE, "name": "team-blue"},
                                      {"id": GREEN, "name": "team-green"},
                                      {"id": "e0e0e0e0-0000-4000-8000-000000000000", "name": "team-empty"}],
              "policies": POLICIES, "groups": GROUPS, "users": USERS}
    data = authz_config(state_dir, upstream_url, "-", "-")    # the same stack settings, this domain
    data.update(iam={"domains": [domain]}, authz=authz,
                limits={"per_user_per_minute": 100000, "global_per_minute": 1000000})
    return data


@dataclass
class EpStack:
    servers: ServerThread
    sim_url: str
    urls: list[str]                       # one per gateway replica
    apps: list[web.Application] = field(default_factory=list)

    def client(self, user: str, replica: int = 0) -> DdmClient:
        return ddm_client(self.urls[replica], *user_keys(user), project=PROJECT)

    def sim(self) -> DdmClient:
        return ddm_client(self.sim_url, SIM_AK, SIM_SK, project=PROJECT)

    def lookups(self, replica: int = 0) -> dict[str, float]:
        counter = self.apps[replica][SERVICES].observability.metrics.enterprise_project_lookups
        return {labels[0]: value for labels, value in counter.values.items()}

    def forget_all(self) -> None:
        for app in self.apps:
            app[SERVICES].enterprise_projects.cache._entries.clear()


def start_ep_stack(state_dir: str, *, replicas: int = 1, servers: ServerThread | None = None,
                   upstream_url: str | None = None, **authz: Any) -> EpStack:
    from ddmsim import create_app as create_sim
    from gateway.http.app import create_app
    from gateway.config import parse_config

    servers = servers or ServerThread()
    sim_url = upstream_url or f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
    config = parse_config(ep_config(state_dir, sim_url, **authz))
    apps = [create_app(config) for _ in range(replicas)]
    urls = [f"http://127.0.0.1:{servers.serve(app)}" for app in apps]
    return EpStack(servers, sim_url, urls, apps)


def create_in(client: DdmClient, name: str, enterprise_project_id: str | None) -> str:
    detail = m.CreateInstanceDetail(name=name, flavor_id=FLAVOR_ID, node_num=1, engine_id=ENGINE_ID,
                                    enterprise_project_id=enterprise_project_id, available_zones=["az1"],
                                    vpc_id="vpc-1", security_group_id="sg-1", subnet_id="subnet-1")
    return client.create_instance(m.CreateInstanceRequest(body=m.CreateInstanceReq(instance=detail))).id


def list_all(client: DdmClient, limit: int) -> tuple[list[str], list[Any]]:
    """Page through ListInstances; the ids in order and every page's response."""
    ids: list[str] = []
    pages: list[Any] = []
    offset = 0
    while True:
        page = client.list_instances(m.ListInstancesRequest(offset=offset, limit=limit))
        pages.append(page)
        ids += [i.id for i in page.instances]
        if len(page.instances) < limit:
            return ids, pages
        offset += limit


def audit_records(request_id: str) -> list[dict[str, Any]]:
    """The request's audit records: written off the request path, so polled for (bounded)."""
    return [record_of(TEST_LOG_DIR / "audit.log", request_id)]


def access_records(request_id: str) -> list[dict[str, Any]]:
    """The request's access-log records: written off the request path, so polled for (bounded)."""
    return [record_of(TEST_LOG_DIR / "access.log", request_id)]
