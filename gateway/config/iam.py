"""Parser for the `iam` section: domains, their projects, custom policies, groups and users.

References are checked while parsing, in dependency order (projects and policies, then groups
that grant them, then users that join groups), so every dangling name is reported at the exact
path where it is used. Uniqueness is tracked by `Registry`, which names the first occurrence.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

from .model import (DEFAULT_ENTERPRISE_PROJECT, AccessKeyConfig, CustomPolicyConfig, DomainConfig,
                    EnterpriseProjectConfig, GrantConfig, GroupConfig, IamConfig, ProjectConfig,
                    UserConfig)
from .reader import Node, Problems, collect
from .secrets import Sources, read_password, read_secret
from .sections import AK_PATTERN

ID_PATTERN = r"[A-Za-z0-9-]{1,64}"
DocumentValidator = Callable[[Any], list[str]]


@dataclass
class Registry:
    """First path at which each (kind, value) was claimed, so duplicates name both places."""

    problems: Problems
    seen: dict[tuple[str, str], str] = field(default_factory=dict)

    def claim(self, kind: str, value: str | None, path: str) -> bool:
        """Record `value`; False (and a problem) if it was claimed before."""
        if value is None:
            return False
        first = self.seen.setdefault((kind, value), path)
        if first != path:
            self.problems.add(path, f"duplicate {kind} '{value}' (first at {first})")
            return False
        return True


@dataclass(frozen=True)
class IamContext:
    """What domain parsing needs beyond the data: secrets, system policies, a global registry."""

    sources: Sources
    system_policies: Collection[str]
    validate_document: DocumentValidator | None
    registry: Registry


@dataclass(frozen=True)
class DomainScope:
    """Names declared so far in one domain, for reference checks."""

    projects: frozenset[str]        # names and ids
    policies: frozenset[str]
    groups: frozenset[str]
    enterprise_projects: Mapping[str, str] = field(default_factory=dict)   # name or id -> id


def iam_section(node: Node | None, context: IamContext) -> IamConfig:
    if node is None:
        return IamConfig()
    domains = collect(node.nodes("domains"), lambda n: _domain(n, context))
    node.finish()
    return IamConfig(domains=domains)


def _domain(node: Node, context: IamContext) -> DomainConfig:
    registry = context.registry
    local = Registry(node.problems)
    domain_id = node.string("id", "", required=True, pattern=ID_PATTERN, what="domain id")
    name = node.string("name", "", required=True)
    if registry.claim("domain id", domain_id or None, node.at("id")):
        registry.claim("user id", domain_id, node.at("id"))       # the owner's user id
    registry.claim("domain name", name or None, node.at("name"))
    local.claim("user name", name or None, node.at("name"))       # the owner's login name
    password = read_password(node)
    projects = collect(node.nodes("projects"), lambda n: _project(n, registry, local))
    enterprise = _enterprise_projects(node, local)
    policies = collect(node.nodes("policies"), lambda n: _policy(n, context, local))
    scope = DomainScope(frozenset(p.name for p in projects) | frozenset(p.id for p in projects),
                        frozenset(p.name for p in policies), frozenset(),
                        {key: ep.id for ep in enterprise for key in (ep.id, ep.name)})
    groups = collect(node.nodes("groups"), lambda n: _group(n, context, scope, local))
    scope = DomainScope(scope.projects, scope.policies, frozenset(g.name for g in groups),
                        scope.enterprise_projects)
    users = collect(node.nodes("users"), lambda n: _user(n, context, scope, local))
    node.finish()
    return DomainConfig(domain_id, name, password, projects, groups, policies, users, enterprise)


def _project(node: Node, registry: Registry, local: Registry) -> ProjectConfig | None:
    project_id = node.string("id", required=True, pattern=ID_PATTERN, what="project id")
    name = node.string("name", required=True)
    registry.claim("project id", project_id, node.at("id"))
    local.claim("project name", name, node.at("name"))
    node.finish()
    return ProjectConfig(project_id, name) if project_id and name else None


def _enterprise_projects(node: Node, local: Registry) -> tuple[EnterpriseProjectConfig, ...]:
    """The declared enterprise projects, the implicit default ("0", `default`) first."""
    declared = collect(node.nodes("enterprise_projects"), lambda n: _enterprise_project(n, local))
    return (DEFAULT_ENTERPRISE_PROJECT,
            *(ep for ep in declared if ep != DEFAULT_ENTERPRISE_PROJECT))


def _enterprise_project(node: Node, local: Registry) -> EnterpriseProjectConfig | None:
    ep_id = node.string("id", required=True, pattern=ID_PATTERN, what="enterprise project id")
    name = node.string("name", required=True)
    default = DEFAULT_ENTERPRISE_PROJECT
    if (ep_id == default.id) != (name == default.name) and ep_id and name:
        node.problem("id" if ep_id == default.id else "name",
                     f"the default enterprise project is id '{default.id}', name '{default.name}'")
    elif ep_id != default.id:
        local.claim("enterprise project id", ep_id, node.at("id"))
        local.claim("enterprise project name", name, node.at("name"))
    node.finish()
    return EnterpriseProjectConfig(ep_id, name) if ep_id and name else None


def _policy(node: Node, context: IamContext, local: Registry) -> CustomPolicyConfig | None:
    name = node.string("name", required=True)
    local.claim("policy name", name, node.at("name"))
    if name in context.system_policies:
        node.problem("name", f"'{name}' is a system policy name; choose another")
    document = node.raw("document")
    if document is None:
        node.problem("document", "is required")
    else:
        _check_document(document, node.at("document"), node.problems, context.validate_document)
    node.finish()
    if name is None or not isinstance(document, dict):
        return None
    return CustomPolicyConfig(name, copy.deepcopy(document))


def _check_document(document: Any, path: str, problems: Problems,
                    validate: DocumentValidator | None) -> None:
    """The full validator when the policies package provides one; else the bare shape."""
    if Node.of(document, path, problems) is None:
        return
    for problem in (validate or basic_document_problems)(document):
        problems.items.append(_nested_problem(path, problem))


def basic_document_problems(document: Any) -> list[str]:
    """The fallback check while no full policy validator is available: Version and Statement."""
    found: list[str] = []
    version = document.get("Version")
    if version is None:
        found.append("Version: is required")
    elif not isinstance(version, str):
        found.append('Version: expected a string (quote it: "1.1")')
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        found.append("Statement: expected a non-empty list of statements")
    else:
        found += [f"Statement[{index}]: expected a mapping"
                  for index, statement in enumerate(statements) if not isinstance(statement, dict)]
    return found


def _nested_problem(path: str, problem: str) -> str:
    """Graft a validator's "Statement[0].Action: msg" onto our path: "...document.Statement[0]..."."""
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*): (.*)",
                         problem, flags=re.DOTALL)
    if match is None:
        return f"{path}: {problem}"
    return f"{path}.{match.group(1)}: {match.group(2)}"


def _group(node: Node, context: IamContext, scope: DomainScope,
           local: Registry) -> GroupConfig | None:
    name = node.string("name", required=True)
    local.claim("group name", name, node.at("name"))
    grants = collect(node.nodes("grants"), lambda n: _grant(n, context, scope))
    node.finish()
    return GroupConfig(name, grants) if name else None


def _grant(node: Node, context: IamContext, scope: DomainScope) -> GrantConfig | None:
    policy = node.string("policy", required=True)
    if policy is not None and policy not in scope.policies and policy not in context.system_policies:
        node.problem("policy", f"unknown policy '{policy}' (neither a system policy nor a "
                               "custom policy of this domain)")
    projects = None
    if node.has("projects"):
        located = node.located_strings("projects")
        if node.raw("projects") == []:
            node.problem("projects", "must not be empty (leave it out to cover every project)")
        for path, project in located:
            if project not in scope.projects:
                node.problems.add(path, f"unknown project '{project}'")
        projects = tuple(project for _, project in located)
    enterprise = _grant_enterprise_projects(node, scope)
    node.finish()
    return GrantConfig(policy, projects, enterprise) if policy else None


def _grant_enterprise_projects(node: Node, scope: DomainScope) -> tuple[str, ...] | None:
    """The ids of the enterprise projects a grant names (instead of IAM projects, as in Huawei)."""
    if not node.has("enterprise_projects"):
        node.raw("enterprise_projects")
        return None
    if node.has("projects"):
        node.problem("enterprise_projects", "conflicts with projects: a grant covers either IAM "
                                            "projects or enterprise projects, not both")
    if node.raw("enterprise_projects") == []:
        node.problem("enterprise_projects", "must not be empty")
    found: list[str] = []
    for path, name in node.located_strings("enterprise_projects"):
        ep_id = scope.enterprise_projects.get(name)
        if ep_id is None:
            node.problems.add(path, f"unknown enterprise project '{name}'")
        elif ep_id not in found:
            found.append(ep_id)
    return tuple(found)


def _user(node: Node, context: IamContext, scope: DomainScope,
          local: Registry) -> UserConfig | None:
    user_id = node.string("id", required=True, pattern=ID_PATTERN, what="user id")
    name = node.string("name", required=True)
    context.registry.claim("user id", user_id, node.at("id"))
    local.claim("user name", name, node.at("name"))
    located = node.located_strings("groups")
    for path, group in located:
        if group not in scope.groups:
            node.problems.add(path, f"unknown group '{group}'")
    groups = tuple(group for _, group in located)
    user = UserConfig(
        id=user_id, name=name, password=read_password(node), groups=groups,
        access_keys=collect(node.nodes("access_keys"), lambda n: _access_key(n, context)),
        enabled=node.boolean("enabled", True),
    )
    node.finish()
    return user if user_id and name else None


def _access_key(node: Node, context: IamContext) -> AccessKeyConfig | None:
    ak = node.string("ak", required=True, pattern=AK_PATTERN, what="access key")
    context.registry.claim("access key", ak, node.at("ak"))
    sk = read_secret(node, "sk", context.sources, required=True)
    node.finish()
    return AccessKeyConfig(ak, sk) if ak and sk else None
