"""System policies: they parse, grant what their descriptions say, and carry their dependencies."""
from __future__ import annotations

import subprocess
import sys

import pytest

from policies import AuthzRequest, CompiledPolicies, RouteCatalog, load_system_policies

NAMES = {"DDM FullAccess", "DDM CommonOperations", "DDM ReadOnlyAccess", "Tenant Administrator", "Tenant Guest"}


@pytest.fixture(scope="module")
def system() -> dict:
    return load_system_policies()


def can(system: dict, name: str, action: str) -> bool:
    return CompiledPolicies([system[name]]).decide(AuthzRequest(action, None, {})).allowed


def test_all_system_policies_load(system: dict) -> None:
    assert set(system) == NAMES
    assert all(p.name == name for name, p in system.items())


GRANTS = [
    ("DDM FullAccess", "ddm:instance:create", True),
    ("DDM FullAccess", "ddm:param:delete", True),
    ("DDM FullAccess", "ecs:cloudServers:delete", False),
    ("DDM CommonOperations", "ddm:instance:create", False),
    ("DDM CommonOperations", "ddm:instance:delete", False),
    ("DDM CommonOperations", "ddm:instance:scale", False),
    ("DDM CommonOperations", "ddm:instance:modify", True),
    ("DDM CommonOperations", "ddm:instance:reboot", True),
    ("DDM CommonOperations", "ddm:database:delete", True),
    ("DDM CommonOperations", "ddm:user:create", True),
    ("DDM ReadOnlyAccess", "ddm:instance:get", True),
    ("DDM ReadOnlyAccess", "ddm:param:list", True),
    ("DDM ReadOnlyAccess", "ddm:instance:modify", False),
    ("DDM ReadOnlyAccess", "ddm:database:create", False),
    ("Tenant Administrator", "ddm:instance:delete", True),
    ("Tenant Administrator", "ecs:cloudServers:create", True),
    ("Tenant Administrator", "identity:users:create", False),
    ("Tenant Guest", "ddm:instance:get", True),
    ("Tenant Guest", "ecs:cloudServers:list", True),
    ("Tenant Guest", "ddm:instance:delete", False),
    ("Tenant Guest", "identity:users:list", False),
]


@pytest.mark.parametrize(("name", "action", "expected"), GRANTS)
def test_grants(system: dict, name: str, action: str, expected: bool) -> None:
    assert can(system, name, action) is expected


@pytest.mark.parametrize("name", ["DDM FullAccess", "DDM CommonOperations", "DDM ReadOnlyAccess"])
def test_each_ddm_policy_carries_the_dependencies_of_what_it_allows(system: dict, name: str) -> None:
    """Like Huawei's system policies: no separate VPC/ECS grant is needed."""
    compiled = CompiledPolicies([system[name]])
    allowed_routes = 0
    for row in RouteCatalog.load_default().operations():
        if row.action and compiled.decide(AuthzRequest(row.action, None, {})).allowed:
            allowed_routes += 1
            missing = [d for d in row.dependencies
                       if not compiled.decide(AuthzRequest(d, None, {})).allowed]
            assert missing == [], (row.operation, missing)
    assert allowed_routes > 20


def test_full_access_covers_every_catalog_action_and_read_only_only_reads(system: dict) -> None:
    rows = [r for r in RouteCatalog.load_default().operations() if r.action]
    assert all(can(system, "DDM FullAccess", r.action) for r in rows)
    reads = {r.action for r in rows if can(system, "DDM ReadOnlyAccess", r.action)}
    assert reads and all(a.split(":")[2] in ("get", "list") for a in reads)


def test_package_imports_neither_aiohttp_nor_redis() -> None:
    code = ("import sys, policies; policies.RouteCatalog.load_default(); policies.load_system_policies();"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'redis', 'asyncio')];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
