"""Stage 5: does a policy allow this action on this resource, in this context?

Deny wins, conditions decide applicability, the domain owner may do everything; dependent
actions (e.g. vpc/ecs actions needed to buy an instance) are checked too when configured.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Mapping, NamedTuple

from policies import ENTERPRISE_PROJECT_KEY, IMPLICIT_DENY, AuthzRequest, CompiledPolicies, Decision, RouteMatch

from ..errors import GatewayError
from ..grants import CallerGrants
from ..identity import Project
from ..principal import Principal
from ..services import Services
from .enterprise import UNPLACED, Placement

@lru_cache(maxsize=4)
def iso_second(second: int) -> str:
    """g:CurrentTime has one-second resolution: format it once per second, not once per request
    (datetime + strftime was the largest line of the authorize stage)."""
    return datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_context(principal: Principal, project: Project | None, route_keys: Mapping[str, str],
                    now: float) -> dict[str, str]:
    """The global condition keys (g:*) plus the route's own keys (ddm:InstanceId ...)."""
    context = {
        "g:UserId": principal.user_id, "g:UserName": principal.user_name,
        "g:DomainId": principal.domain_id, "g:DomainName": principal.domain_name,
        "g:CurrentTime": iso_second(math.floor(now)),
        "g:SourceIp": principal.source_ip, "g:MFAPresent": "true" if principal.mfa else "false",
        "g:AuthMethod": principal.auth_method,
    }
    if project is not None:
        context["g:ProjectId"] = project.id
        context["g:ProjectName"] = project.name
    context.update(route_keys)
    return context


class Verdict(NamedTuple):
    """The decision on the route's action plus any dependent actions that were not allowed."""

    action: str
    resource: str | None
    decision: Decision
    missing_dependencies: tuple[str, ...]
    enterprise_project: str | None = None    # the one the decision was made in, if any

    @property
    def allowed(self) -> bool:
        return self.decision.allowed and not self.missing_dependencies

    @property
    def denied_actions(self) -> list[str]:
        return ([] if self.decision.allowed else [self.action]) + list(self.missing_dependencies)

    def raise_if_denied(self) -> None:
        if not self.allowed:
            raise GatewayError.of("forbidden",
                                  f"Policy doesn't allow {', '.join(self.denied_actions)} to be performed.")


def caller_grants(principal: Principal, project: Project | None, services: Services) -> CallerGrants:
    identity = services.runtime.directory.by_user_id(principal.user_id)
    assert identity is not None  # authentication just found it in this same runtime
    return services.runtime.grants.grants_for(identity, project)


def authorize(principal: Principal, route: RouteMatch, project: Project | None,
              services: Services, placement: Placement = UNPLACED,
              grants: CallerGrants | None = None) -> Verdict:
    runtime = services.runtime
    grants = grants if grants is not None else caller_grants(principal, project, services)
    context = request_context(principal, project, runtime.catalog.condition_keys(route), services.clock())
    resource = runtime.catalog.resource_urn(route, region=runtime.config.region,
                                            domain_id=principal.domain_id)
    if not placement.exists:
        return Verdict(route.action, resource, _NO_SUCH_INSTANCE, ())
    if placement.anywhere:
        return _decide_anywhere(principal, route, grants, resource, context, services)
    compiled = grants.project
    if placement.enterprise_project is not None:
        compiled = grants.in_enterprise_project(placement.enterprise_project)
        context[ENTERPRISE_PROJECT_KEY] = placement.enterprise_project
    return _decide(principal, route, compiled, resource, context, services, placement.enterprise_project)


_NO_SUCH_INSTANCE = Decision(False, IMPLICIT_DENY)


def _decide(principal: Principal, route: RouteMatch, compiled: CompiledPolicies, resource: str | None,
            context: dict[str, str], services: Services, enterprise_project: str | None) -> Verdict:
    """The route's action, then (when allowed and configured) its dependent actions."""
    decision = compiled.decide(AuthzRequest(route.action, resource, context),
                               domain_owner=principal.domain_owner)
    missing: tuple[str, ...] = ()
    if decision.allowed and services.runtime.config.authz.enforce_dependencies and not principal.domain_owner:
        missing = tuple(dep for dep in route.dependencies
                        if not compiled.decide(AuthzRequest(dep, None, context)).allowed)
    return Verdict(route.action, resource, decision, missing, enterprise_project)


def _decide_anywhere(principal: Principal, route: RouteMatch, grants: CallerGrants, resource: str | None,
                     context: dict[str, str], services: Services) -> Verdict:
    """A route naming no resource (catalog reads, the gate of a filtered list): allowed when
    any policy set the caller's resources may be decided by allows it. The project's own set is
    also tried in each declared enterprise project when a statement is conditioned on one."""
    first: Verdict | None = None
    for ep, compiled in _candidates(principal, grants, services):
        trial = dict(context, **({ENTERPRISE_PROJECT_KEY: ep} if ep is not None else {}))
        verdict = _decide(principal, route, compiled, resource, trial, services, ep)
        if verdict.allowed:
            return verdict
        first = first or verdict
    assert first is not None   # the project's own set is always a candidate
    return first


def _candidates(principal: Principal, grants: CallerGrants,
                          services: Services) -> list[tuple[str | None, CompiledPolicies]]:
    found: list[tuple[str | None, CompiledPolicies]] = list(grants.candidates())
    if grants.project.conditions_on(ENTERPRISE_PROJECT_KEY):
        domain = services.runtime.directory.domain_by_id(principal.domain_id)
        found += [(ep.id, grants.project) for ep in domain.enterprise_projects
                  if ep.id not in grants.enterprise] if domain is not None else []
    return found


def list_visibility(principal: Principal, route: RouteMatch, project: Project | None,
                    services: Services) -> Callable[[str], bool]:
    """For a list the response stage filters: may the caller see an instance in enterprise
    project `ep`? (see `visibility`)."""
    context = request_context(principal, project, services.runtime.catalog.condition_keys(route),
                              services.clock())
    return visibility(caller_grants(principal, project, services), route.action, context,
                      domain_owner=principal.domain_owner)


def visibility(grants: CallerGrants, action: str, context: Mapping[str, str], *,
               domain_owner: bool) -> Callable[[str], bool]:
    """The list action decided by enterprise project `ep`'s policy set with g:EnterpriseProjectId
    filled in; memoized, so a list costs one decision per enterprise project, not per item."""
    memo: dict[str, bool] = {}

    def visible(ep: str) -> bool:
        found = memo.get(ep)
        if found is None:
            trial = dict(context, **{ENTERPRISE_PROJECT_KEY: ep})
            found = memo[ep] = grants.in_enterprise_project(ep).decide(
                AuthzRequest(action, None, trial), domain_owner=domain_owner).allowed
        return found
    return visible
