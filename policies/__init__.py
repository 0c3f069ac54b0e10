"""Huawei IAM fine-grained policies for the DDM gateway: pure data and logic, no I/O framework.

- document: validate_document / parse_policy -> frozen Policy / Statement (version 1.1 plus the
  5.0 additions Sid, NotAction, Resource URNs).
- engine: CompiledPolicies(policies).decide(AuthzRequest) -> Decision (owner / explicit deny /
  allow / implicit deny, with the deciding statements).
- system: load_system_policies() from system_policies.yaml.
- routes: RouteCatalog (routes.yaml) maps a DDM request to its operation, action, resource and
  dependent actions.
Importing this package never imports aiohttp or redis.
"""
from .conditions import OPERATORS, Condition
from .document import Policy, Statement, action_problem, parse_policy, validate_document
from .engine import (ALLOW, ENTERPRISE_PROJECT_KEY, EXPLICIT_DENY, IMPLICIT_DENY, OWNER,
                     AuthzRequest, CompiledPolicies, Decision)
from .errors import PolicyError
from .routes import (EP_CATALOG, EP_CREATE, EP_INSTANCE, EP_LIST, EP_PROJECT, EP_PUBLIC,
                     EnterpriseProjectScope, RouteCatalog, RouteMatch, RouteRow)
from .system import load_system_policies, system_policy_descriptions

__all__ = [
    "ALLOW", "ENTERPRISE_PROJECT_KEY", "EP_CATALOG", "EP_CREATE", "EP_INSTANCE", "EP_LIST",
    "EP_PROJECT", "EP_PUBLIC", "EnterpriseProjectScope", "EXPLICIT_DENY", "IMPLICIT_DENY",
    "OPERATORS", "OWNER", "AuthzRequest",
    "CompiledPolicies", "Condition", "Decision", "Policy", "PolicyError", "RouteCatalog",
    "RouteMatch", "RouteRow", "Statement", "action_problem", "load_system_policies",
    "parse_policy", "system_policy_descriptions", "validate_document",
]
