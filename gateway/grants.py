"""Which policies apply to a user in a project, compiled once and cached until reload.

Group grants name a policy (system or the domain's custom one) and optionally the projects they
are limited to (names or ids); without `projects` a grant covers every project of the domain.
"""
from __future__ import annotations

from typing import Any, Mapping

from policies import CompiledPolicies, Policy, load_system_policies, parse_policy

from .identity import Identity


class GrantResolver:
    """(user, project) -> CompiledPolicies; immutable inputs, memoized output."""

    def __init__(self, iam: Any, system_policies: Mapping[str, Policy] | None = None) -> None:
        self._system = dict(system_policies if system_policies is not None else load_system_policies())
        self._custom: dict[str, dict[str, Policy]] = {}
        self._groups: dict[str, dict[str, Any]] = {}
        for domain in iam.domains:
            self._custom[domain.id] = {p.name: parse_policy(p.name, p.document) for p in domain.policies}
            self._groups[domain.id] = {g.name: g for g in domain.groups}
        self._cache: dict[tuple[str, str | None], CompiledPolicies] = {}

    def policies_for(self, identity: Identity, project: Any | None) -> CompiledPolicies:
        key = (identity.user_id, project.id if project is not None else None)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = CompiledPolicies(self.policy_list(identity, project))
            self._cache[key] = compiled
        return compiled

    def policy_list(self, identity: Identity, project: Any | None) -> list[Policy]:
        """The policies granted to the identity's groups that reach `project` (None: domain scope)."""
        domain_id = identity.domain.id
        groups = self._groups.get(domain_id, {})
        found: list[Policy] = []
        for group_name in identity.groups:
            group = groups.get(group_name)
            for grant in group.grants if group is not None else ():
                if not _grant_covers(grant, project):
                    continue
                policy = self._custom[domain_id].get(grant.policy) or self._system.get(grant.policy)
                if policy is not None and policy not in found:
                    found.append(policy)
        return found


def _grant_covers(grant: Any, project: Any | None) -> bool:
    if grant.projects is None:
        return True
    if project is None:
        return False
    return project.name in grant.projects or project.id in grant.projects
