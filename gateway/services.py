"""What the app owns: the config-derived runtime (swapped atomically on reload) and the
long-lived resources (store, upstream pool, token keys) that outlive a reload."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from aiohttp import web

from policies import RouteCatalog

from .grants import GrantResolver
from .identity import IdentityDirectory
from .limits.ruleset import RuleSet
from .shadow_grants import without_policies

if TYPE_CHECKING:   # the parts import services.py for SERVICES; the types only for checking
    from .authn.authenticator import Authenticator
    from .body_budget import BodyBudget
    from .config.model import GatewayConfig
    from .enterprise_projects import EnterpriseProjectLocator
    from .iam.password_checker import PasswordChecker
    from .iam.temporary import TemporaryCredentialService
    from .iam.tokens import TokenService
    from .limits.model import LimitStore
    from .observability.access import Observability
    from .proxy.client import UpstreamClient


@dataclass(frozen=True)
class Runtime:
    """Everything derived from one config; replaced as a whole, never mutated."""

    config: GatewayConfig
    directory: IdentityDirectory
    grants: GrantResolver
    catalog: RouteCatalog
    rules: RuleSet                        # the rate-limit budgets that apply to each request
    shadow_grants: GrantResolver | None   # every grant, report-only ones too (None: there are none)

    @classmethod
    def from_config(cls, config: GatewayConfig, catalog: RouteCatalog | None = None) -> "Runtime":
        report_only = frozenset(config.authz.report_only_policies)
        return cls(config, IdentityDirectory(config.iam), GrantResolver(without_policies(config.iam, report_only)),
                   catalog or RouteCatalog.load_default(), RuleSet(config.limits),
                   GrantResolver(config.iam) if report_only else None)


@dataclass
class Services:
    runtime: Runtime
    tokens: TokenService           # issues tokens (IAM routes); authn verifies them
    temporary: TemporaryCredentialService
    store: LimitStore
    authn: Authenticator           # who is calling: tokens, keys, revocation, lockout, failed-auth guard
    upstream: UpstreamClient
    observability: Observability
    clock: Callable[[], float]
    bodies: BodyBudget             # bytes buffered for bodies
    passwords: PasswordChecker     # scrypt off the event loop
    enterprise_projects: EnterpriseProjectLocator


SERVICES = web.AppKey("services", Services)
