"""After the real decision: what `authz.report_only_policies` would have changed, audited only.

The enforced decision never sees those policies (Runtime builds its GrantResolver without their
grants); here the same request is decided again with every grant, as if they were attached where
their grants say. A different outcome is written to the audit trail (`would_deny` with the Deny
statements, `would_allow` with the allowing one) and counted; nothing is enforced, so a new Deny
can be watched for a day before it is switched on.
"""
from __future__ import annotations

from policies import AuthzRequest, RouteMatch

from ..identity import Project
from ..principal import Principal
from ..services import Services
from .authorize import Verdict, request_context


def audit_report_only(principal: Principal, route: RouteMatch, project: Project | None, verdict: Verdict,
                      services: Services, request_id: str) -> None:
    runtime = services.runtime
    shadow = runtime.shadow_grants
    if shadow is None or principal.domain_owner:
        return
    identity = runtime.directory.by_user_id(principal.user_id)
    assert identity is not None   # authentication just found it in this same runtime
    compiled = shadow.policies_for(identity, project)
    context = request_context(principal, project, runtime.catalog.condition_keys(route), services.clock())
    decision = compiled.decide(AuthzRequest(route.action, verdict.resource, context))
    allowed = decision.allowed
    if allowed and runtime.config.authz.enforce_dependencies:
        allowed = all(compiled.decide(AuthzRequest(dep, None, context)).allowed for dep in route.dependencies)
    if allowed == verdict.allowed:
        return
    services.observability.audit_report_only(
        request_id, principal, route.action, verdict.resource, "would_allow" if allowed else "would_deny",
        verdict.allowed, decision.deciding)
