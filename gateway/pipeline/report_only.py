"""After the real decision: what `authz.report_only_policies` would have changed, audited only.

The enforced decision never sees those policies (Runtime builds its GrantResolver without their
grants); here the same request is decided again by the same `authorize`, with every grant, as if
they were attached where their grants say. A different outcome is written to the audit trail
(`would_deny` with the Deny statements, `would_allow` with the allowing one) and counted;
nothing is enforced, so a new Deny can be watched for a day before it is switched on.
"""
from __future__ import annotations

from policies import RouteMatch

from ..identity import Project
from ..principal import Principal
from ..services import Services
from .authorize import Verdict, authorize
from .enterprise import Placement


def audit_report_only(principal: Principal, route: RouteMatch, project: Project | None, placement: Placement,
                      verdict: Verdict, services: Services, request_id: str) -> None:
    runtime = services.runtime
    shadow = runtime.shadow_grants
    if shadow is None or principal.domain_owner:
        return
    identity = runtime.directory.by_user_id(principal.user_id)
    assert identity is not None   # authentication just found it in this same runtime
    would = authorize(principal, route, project, services, placement, shadow.grants_for(identity, project))
    if would.allowed == verdict.allowed:
        return
    services.observability.audit_report_only(
        request_id, principal, route.action, verdict.resource, "would_allow" if would.allowed else "would_deny",
        verdict.allowed, would.decision.deciding)
