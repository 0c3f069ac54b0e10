"""Stage 5: does a policy allow this action on this resource, in this context?

Deny wins, conditions decide applicability, the domain owner may do everything; dependent
actions (e.g. vpc/ecs actions needed to buy an instance) are checked too when configured.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import Mapping, NamedTuple

from policies import AuthzRequest, Decision, RouteMatch

from ..errors import GatewayError
from ..identity import Project
from ..principal import Principal
from ..services import Services

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


def authorize(principal: Principal, route: RouteMatch, project: Project | None,
              services: Services) -> Verdict:
    runtime = services.runtime
    identity = runtime.directory.by_user_id(principal.user_id)
    assert identity is not None  # authentication just found it in this same runtime
    compiled = runtime.grants.policies_for(identity, project)
    context = request_context(principal, project, runtime.catalog.condition_keys(route), services.clock())
    resource = runtime.catalog.resource_urn(route, region=runtime.config.region,
                                            domain_id=principal.domain_id)
    decision = compiled.decide(AuthzRequest(route.action, resource, context),
                               domain_owner=principal.domain_owner)
    missing: tuple[str, ...] = ()
    if decision.allowed and runtime.config.authz.enforce_dependencies and not principal.domain_owner:
        missing = tuple(dep for dep in route.dependencies
                        if not compiled.decide(AuthzRequest(dep, None, context)).allowed)
    return Verdict(route.action, resource, decision, missing)
