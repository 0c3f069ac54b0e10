"""Which policies apply to a user in a project, compiled once and cached until reload.

Group grants name a policy (system or the domain's custom one) and where it applies: the IAM
projects it is limited to (`projects`, names or ids; absent: every project of the domain), or
the enterprise projects whose resources it covers (`enterprise_projects`, ids after parsing).
As in Huawei IAM, the policies deciding a request on a resource are the caller's IAM-project
grants for the request's project plus the enterprise-project grants whose enterprise project
contains the resource (`CallerGrants.in_enterprise_project`).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from policies import ENTERPRISE_PROJECT_KEY, CompiledPolicies, Policy, load_system_policies, parse_policy

from .identity import Identity

_NONE: Mapping[str, CompiledPolicies] = MappingProxyType({})


class CallerGrants:
    """One caller's policies in one project, split by where they apply. Immutable.

    `project`: the IAM-project grants alone (what decides a resource in no enterprise project
    the caller holds a grant in). `enterprise`: per enterprise-project id, those grants plus the
    ones granted in it. `depends_on_enterprise_project`: whether any decision can depend on a
    resource's enterprise project (an enterprise-project grant, or a project statement
    conditioned on g:EnterpriseProjectId); when not, no enterprise project is ever looked up.
    """

    __slots__ = ("project", "enterprise", "depends_on_enterprise_project")

    def __init__(self, project: CompiledPolicies,
                 enterprise: Mapping[str, CompiledPolicies] = _NONE) -> None:
        self.project = project
        self.enterprise = enterprise
        self.depends_on_enterprise_project = bool(enterprise) or project.conditions_on(ENTERPRISE_PROJECT_KEY)

    def in_enterprise_project(self, enterprise_project_id: str) -> CompiledPolicies:
        return self.enterprise.get(enterprise_project_id, self.project)

    def candidates(self) -> tuple[tuple[str | None, CompiledPolicies], ...]:
        """Every distinct policy set a resource may be decided by: (None, project) and each
        enterprise project's. For routes that name no resource (catalog reads, "could the
        list action be allowed anywhere")."""
        return ((None, self.project), *self.enterprise.items())


class GrantResolver:
    """(user, project) -> CallerGrants; immutable inputs, memoized output."""

    def __init__(self, iam: Any, system_policies: Mapping[str, Policy] | None = None) -> None:
        self._system = dict(system_policies if system_policies is not None else load_system_policies())
        self._custom: dict[str, dict[str, Policy]] = {}
        self._groups: dict[str, dict[str, Any]] = {}
        for domain in iam.domains:
            self._custom[domain.id] = {p.name: parse_policy(p.name, p.document) for p in domain.policies}
            self._groups[domain.id] = {g.name: g for g in domain.groups}
        self._cache: dict[tuple[str, str | None], CallerGrants] = {}
        # whether any caller's decisions can depend on enterprise projects (else nothing is learned)
        self.uses_enterprise_projects = any(
            grant.enterprise_projects is not None
            for domain in iam.domains for group in domain.groups for grant in group.grants) or any(
            CompiledPolicies(list(custom.values())).conditions_on(ENTERPRISE_PROJECT_KEY)
            for custom in self._custom.values())

    def grants_for(self, identity: Identity, project: Any | None) -> CallerGrants:
        key = (identity.user_id, project.id if project is not None else None)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._build(identity, project)
        return found

    def policy_list(self, identity: Identity, project: Any | None,
                    enterprise_project_id: str | None = None) -> list[Policy]:
        """The policies deciding a resource in `enterprise_project_id` (None: in no enterprise
        project the caller holds a grant in) in `project` (None: domain scope)."""
        found: list[Policy] = []
        for grant in self._grants(identity):
            if grant.enterprise_projects is None:
                reaches = _grant_covers(grant, project)
            else:
                reaches = enterprise_project_id in grant.enterprise_projects
            policy = self._policy(identity, grant.policy) if reaches else None
            if policy is not None and policy not in found:
                found.append(policy)
        return found

    def _build(self, identity: Identity, project: Any | None) -> CallerGrants:
        projectwide = CompiledPolicies(self.policy_list(identity, project))
        ep_ids = sorted({ep for grant in self._grants(identity) for ep in grant.enterprise_projects or ()})
        return CallerGrants(projectwide, MappingProxyType({
            ep: CompiledPolicies(self.policy_list(identity, project, ep)) for ep in ep_ids}))

    def _grants(self, identity: Identity) -> list[Any]:
        groups = self._groups.get(identity.domain.id, {})
        return [grant for name in identity.groups if (group := groups.get(name)) is not None
                for grant in group.grants]

    def _policy(self, identity: Identity, name: str) -> Policy | None:
        return self._custom[identity.domain.id].get(name) or self._system.get(name)


def _grant_covers(grant: Any, project: Any | None) -> bool:
    if grant.projects is None:
        return True
    if project is None:
        return False
    return project.name in grant.projects or project.id in grant.projects
