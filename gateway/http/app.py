"""The app factory: components built at startup, owned by the app, closed at cleanup.

Every route handler is wrapped here in the request-id stage (request id, RequestHead, access
log); the DDM pipeline order lives in pipeline/ddm.py.
"""
from __future__ import annotations

import time
from typing import AsyncIterator, Callable

from aiohttp import web

from signer import DerivedKeyCache

from ..authn.authenticator import Authenticator
from ..authn.guard import FailedAuthGuard
from ..authn.revocation import RevocationCache
from ..body_budget import BodyBudget
from ..config.model import GatewayConfig
from ..enterprise_projects import EnterpriseProjectCache, EnterpriseProjectLocator
from ..iam.keys import KeyRing
from ..iam.password_checker import PasswordChecker
from ..iam.temporary import TemporaryCredentialService
from ..iam.tokens import TokenService
from ..limits import create_store
from ..observability.access import OBSERVABILITY, Observability
from ..proxy.client import PoolLimits, UpstreamClient
from ..proxy.upstream_auth import NoUpstreamAuth, upstream_auth_from_config
from ..services import SERVICES, Runtime, Services
from .connections import EDGE_LIMITS, EdgeLimits
from .ddm import ddm_route
from .dispatch import CATCH_ALL
from .expect import expect_within
from .iam import add_iam_routes
from .request_id import with_request_id
from .usage import USAGE_PATH, handle_usage

Clock = Callable[[], float]


def create_app(config: GatewayConfig, *, upstream_url: str | None = None, clock: Clock = time.time,
               runtime: Runtime | None = None) -> web.Application:
    """The public app. `upstream_url` overrides config.upstream.url (the embedded simulator)."""
    app = web.Application()
    app[EDGE_LIMITS] = EdgeLimits.from_listen(config.listen)
    add_iam_routes(app, wrap=with_request_id)
    app.router.add_get(USAGE_PATH, with_request_id(handle_usage))
    catch_all = app.router.add_route("*", "/{tail:[\\s\\S]*}", with_request_id(ddm_route),  # any path, newlines too
                                     expect_handler=expect_within(_max_body_bytes))
    app[CATCH_ALL] = catch_all   # the edge's short cut to it (http/dispatch.py)
    app.cleanup_ctx.append(_services_context(config, upstream_url, clock, runtime))
    return app


def _max_body_bytes(request: web.Request) -> int:
    return int(request.app[SERVICES].runtime.config.listen.max_body_bytes)


def _services_context(config: GatewayConfig, upstream_url: str | None, clock: Clock, runtime: Runtime | None):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        services = build_services(config, upstream_url=upstream_url, clock=clock, runtime=runtime)
        await services.upstream.start()
        await services.authn.start()
        app[SERVICES] = services
        app[OBSERVABILITY] = services.observability
        try:
            yield
        finally:
            services.observability.close()
            services.passwords.close()
            await services.authn.close()
            await services.upstream.close()
            await services.store.close()
    return context


def build_services(config: GatewayConfig, *, upstream_url: str | None, clock: Clock,
                   runtime: Runtime | None = None) -> Services:
    keys = KeyRing.load_or_create(
        signing_key_file=config.tokens.signing_key_file, state_dir=config.state_dir,
        verification_key_files=config.tokens.verification_key_files, algorithm=config.tokens.algorithm)
    store_cfg = config.store
    observability = Observability.from_config(config.logging)
    store = create_store(store_cfg.url if store_cfg else None,
                         on_failure=store_cfg.on_failure if store_cfg else "open",
                         replicas=store_cfg.replicas if store_cfg else 1, clock=clock,
                         timeout_s=store_cfg.timeout_ms / 1000 if store_cfg else 0.05,
                         on_error=observability.metrics.store_errors.inc)
    upstream = config.upstream
    auth = (upstream_auth_from_config(upstream.auth, trust_env=upstream.trust_env) if upstream is not None
            else NoUpstreamAuth())
    url = upstream_url or (upstream.url if upstream is not None else None)
    if url is None:
        raise ValueError("no upstream: set upstream.url, or serve with the embedded simulator")
    client = UpstreamClient(
        url, auth,
        connect_timeout_s=upstream.connect_timeout_s if upstream else 3.0,
        timeout_s=upstream.timeout_s if upstream else 60.0,
        retry_idempotent=upstream.retry_idempotent if upstream else True,
        max_body_bytes=config.listen.max_body_bytes,
        limits=PoolLimits(max_connections=upstream.max_connections,
                          max_connections_per_route=upstream.max_connections_per_route,
                          max_pending=upstream.max_pending, pool_timeout_s=upstream.pool_timeout_s,
                          read_timeout_s=upstream.read_timeout_s) if upstream else None,
        trust_env=upstream.trust_env if upstream else False)
    locator = EnterpriseProjectLocator(
        EnterpriseProjectCache(ttl_s=config.authz.enterprise_project_cache_s,
                               max_entries=config.authz.enterprise_project_cache_entries, clock=clock),
        client, observability.metrics.enterprise_project_lookups,
        timeout_s=config.authz.enterprise_project_lookup_timeout_s)
    tokens = TokenService(keys, ttl_s=config.tokens.ttl_s, clock=clock)
    temporary = TemporaryCredentialService(keys.secret_key_material(), clock=clock)
    authn = Authenticator(
        tokens=tokens, temporary=temporary, revocations=RevocationCache(store), store=store,
        guard=FailedAuthGuard(store, per_minute=config.limits.auth_failures_per_ip_per_minute, clock=clock),
        key_cache=DerivedKeyCache(), clock=clock, count_failure=observability.metrics.auth_failures.inc)
    services = Services(
        runtime=runtime or Runtime.from_config(config), tokens=tokens, temporary=temporary,
        store=store, authn=authn, upstream=client, observability=observability, clock=clock,
        bodies=BodyBudget(config.listen.max_buffered_bytes), passwords=PasswordChecker(),
        enterprise_projects=locator)
    return services
