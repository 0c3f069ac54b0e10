"""What the app owns: the config-derived runtime (swapped atomically on reload) and the
long-lived resources (store, upstream pool, token keys) that outlive a reload."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from policies import RouteCatalog

from .grants import GrantResolver
from .identity import IdentityDirectory


@dataclass(frozen=True)
class Runtime:
    """Everything derived from one config; replaced as a whole, never mutated."""

    config: Any                    # gateway.config.GatewayConfig
    directory: IdentityDirectory
    grants: GrantResolver
    catalog: RouteCatalog

    @classmethod
    def from_config(cls, config: Any, catalog: RouteCatalog | None = None) -> "Runtime":
        return cls(config, IdentityDirectory(config.iam), GrantResolver(config.iam),
                   catalog or RouteCatalog.load_default())


@dataclass
class Services:
    runtime: Runtime
    tokens: Any                    # gateway.iam.tokens.TokenService
    temporary: Any                 # gateway.iam.temporary.TemporaryCredentialService
    store: Any                     # gateway.limits.LimitStore
    revocations: Any               # gateway.revocation.RevocationCache
    upstream: Any                  # gateway.proxy.client.UpstreamClient
    auth_guard: Any                # gateway.pipeline.auth_guard.FailedAuthGuard
    key_cache: Any                 # signer.DerivedKeyCache (ECDSA/SM2 keys derived from SKs)
    observability: Any             # gateway.observability.access.Observability
    clock: Callable[[], float]
    bodies: Any                    # gateway.pipeline.body.BodyBudget (bytes buffered for bodies)
    passwords: Any                 # gateway.iam.password_checker.PasswordChecker (scrypt off the event loop)
    enterprise_projects: Any = None   # gateway.enterprise_projects.EnterpriseProjectLocator


SERVICES = web.AppKey("services", Services)
