"""The IAM routes the official SDKs call, served on the gateway's own port: thin handlers.

Authentication (the caller's token or AK/SK, a parent token) goes through authn's
Authenticator like any DDM call; tokens and temporary credentials are issued by the plain
services in gateway/iam/.

`POST /v3/auth/tokens` (password or token method, project/domain scope), token validation and
revocation, project and domain listings (the SDK's project-id auto-resolution), and temporary
AK/SK. Errors are Keystone-shaped (`IamError`), as Huawei IAM answers them.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from aiohttp import web

from ..authn.failures import LOCKED, AuthFailure
from ..errors import GatewayError, IamError, JSON_CONTENT_TYPE, iam_error_body
from ..iam.json_body import MAX_IAM_BODY, parse_object
from ..iam.login import field, password_login, scope_project
from ..iam.token_body import domain_body, iso, project_body, token_body
from ..iam.tokens import TokenClaims
from ..identity import Identity, Project
from ..limits import StoreUnavailable
from ..principal import Principal
from ..request import RequestHead, query_of
from ..services import SERVICES, Services
from .body import BodyLease
from .expect import expect_within
from .request_id import EdgeHandler, Handler


def iam_route(handler: EdgeHandler) -> EdgeHandler:
    """Turns IamError/GatewayError raised by an IAM handler into Keystone's error shape."""
    @functools.wraps(handler)
    async def wrapper(request: web.Request, head: RequestHead) -> web.StreamResponse:
        headers: tuple[tuple[str, str], ...] = ()
        try:
            return await handler(request, head)
        except GatewayError as err:
            code = "IAM.0001" if err.status == 401 else err.code
            failure, headers = IamError(err.status, code, err.message), err.headers
        except IamError as err:
            failure = err
        response = web.Response(status=failure.status, body=iam_error_body(failure, head.request_id))
        response.headers["Content-Type"] = JSON_CONTENT_TYPE
        for name, value in headers:   # Retry-After of a throttled login
            response.headers[name] = value
        return response
    return wrapper


def public_url(request: web.Request) -> str:
    """The base URL of catalog endpoints and links: `listen.public_url`, else the address the
    listener accepted this connection on. Never the client's Host header (a client could point
    an SDK that follows the catalog anywhere)."""
    configured = request.app[SERVICES].runtime.config.listen.public_url
    if configured:
        return str(configured)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return f"{request.scheme}://127.0.0.1"
    host, port = sockname[0], sockname[1]
    return f"{request.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


async def json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object of an IAM request, read through the one bounded body reader."""
    services = request.app[SERVICES]
    with BodyLease(services.bodies) as lease:
        raw = await lease.read_request(request, MAX_IAM_BODY, timeout_s=services.runtime.config.listen.body_timeout_s)
        return parse_object(raw)


# --- POST /v3/auth/tokens -------------------------------------------------------------------

@iam_route
async def create_token(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    auth = field(await json_body(request), "auth")
    methods = field(auth, "identity", "methods")
    if not isinstance(methods, list) or not methods:
        raise IamError(400, "IAM.0011", "auth.identity.methods is required.")
    not_after = None
    if "password" in methods:
        user = field(auth, "identity", "password", "user")
        identity, used = await _guarded_password_login(head, services, user), ("password",)
    elif "token" in methods:
        (identity, not_after), used = await _token_login(head, services, auth), ("token",)
    else:
        raise IamError(400, "IAM.0011", f"Unsupported authentication methods: {methods}.")
    project = scope_project(services.runtime.directory, identity, field(auth, "scope"))
    token, claims = services.tokens.issue(
        user_id=identity.user_id, user_name=identity.user_name, domain_id=identity.domain.id,
        domain_name=identity.domain.name, project_id=project.id if project else None,
        project_name=project.name if project else None, methods=used,
        domain_owner=identity.domain_owner, not_after=not_after)
    body = token_body(claims, identity, region=services.runtime.config.region,
                      public_url=public_url(request), with_catalog=not query_of(head).get("nocatalog"))
    response = web.json_response(body, status=201, content_type="application/json")
    response.headers["X-Subject-Token"] = token
    return response


async def _guarded_password_login(head: RequestHead, services: Services, user: Any) -> Identity:
    """Bad passwords count against the source IP's failed-authentication budget, like bad
    signatures: a flood of guesses is refused before any (deliberately slow) scrypt check."""
    guard = services.authn.guard
    guard.check(head.source_ip)
    try:
        return await password_login(services.runtime.directory, services.store, services.passwords,
                                    services.runtime.config.auth, user)
    except IamError as err:
        if err.status == 401:
            services.authn.count_failure("bad_password")
            await guard.record_failure(head.source_ip)
        raise


async def _token_login(head: RequestHead, services: Services, auth: Any) -> tuple[Identity, int]:
    """The identity of the parent token and its expiry, which the new token keeps (a token
    renewing itself would make a stolen token last for ever)."""
    token = field(auth, "identity", "token", "id") or head.headers.get("X-Auth-Token")
    if not isinstance(token, str):
        raise IamError(400, "IAM.0011", "auth.identity.token.id or X-Auth-Token is required.")
    claims = await services.authn.guarded_claims(token, head.source_ip)
    principal = services.authn.principal_from_token(services.runtime, token, head.source_ip)
    return _identity(services, principal), claims.expires_at


# --- GET / HEAD / DELETE /v3/auth/tokens -------------------------------------------------------

@iam_route
async def validate_token(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    caller = await _authenticated(request, head, services)
    token, claims = _subject(head, services, caller)
    identity = _identity_or_404(services, claims.user_id)
    if request.method == "HEAD":
        response: web.StreamResponse = web.Response(status=200)
    else:
        body = token_body(claims, identity, region=services.runtime.config.region,
                          public_url=public_url(request), with_catalog=not query_of(head).get("nocatalog"))
        response = web.json_response(body, status=200)
    response.headers["X-Subject-Token"] = token
    return response


@iam_route
async def revoke_token(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    caller = await _authenticated(request, head, services)
    _token, claims = _subject(head, services, caller)
    ttl = claims.expires_at - services.clock()
    try:
        await services.authn.revocations.revoke(claims.token_id, ttl)
    except StoreUnavailable:
        raise IamError(503, "IAM.0006", "The revocation could not be stored; try again.") from None
    return web.Response(status=204)


def _subject(head: RequestHead, services: Services, caller: Principal) -> tuple[str, TokenClaims]:
    token = head.headers.get("X-Subject-Token")
    if not token:
        raise IamError(400, "IAM.0009", "X-Subject-Token is invalid in the request.")
    try:   # the same verification and revocation check as any token (authn), answered as IAM does
        claims = services.authn.claims_from_token(token)
    except AuthFailure:
        raise IamError(404, "IAM.0004", "Could not find token.") from None
    same_user = claims.user_id == caller.user_id
    owner_of_domain = caller.domain_owner and claims.domain_id == caller.domain_id
    if not (same_user or owner_of_domain):
        raise IamError(403, "IAM.0002", "You are not authorized to perform the requested action.")
    return token, claims


# --- projects and domains ------------------------------------------------------------------------

@iam_route
async def list_auth_projects(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    caller = await _authenticated(request, head, services)
    projects = services.runtime.directory.projects_of(caller.domain_id)
    return _projects_response(request, projects, "/v3/auth/projects")


@iam_route
async def list_projects(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    caller = await _authenticated(request, head, services)
    projects = services.runtime.directory.projects_of(caller.domain_id)
    query = query_of(head)
    name = query.get("name")
    if name is not None:
        projects = [p for p in projects if p.name == name]
    domain_id = query.get("domain_id")
    if domain_id is not None:
        projects = [p for p in projects if p.domain_id == domain_id]
    return _projects_response(request, projects, "/v3/projects")


def _projects_response(request: web.Request, projects: list[Project], path: str) -> web.StreamResponse:
    url = public_url(request)
    body = {"projects": [project_body(p, url) for p in projects],
            "links": {"self": url + path, "previous": None, "next": None}}
    return web.json_response(body)


@iam_route
async def list_auth_domains(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    caller = await _authenticated(request, head, services)
    domain = services.runtime.directory.domain_by_id(caller.domain_id)
    url = public_url(request)
    return web.json_response({"domains": [domain_body(domain, url)],
                              "links": {"self": url + "/v3/auth/domains", "previous": None, "next": None}})


# --- POST /v3.0/OS-CREDENTIAL/securitytokens -------------------------------------------------

@iam_route
async def create_security_token(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    data = await json_body(request)
    methods = field(data, "auth", "identity", "methods")
    if methods != ["token"]:
        raise IamError(400, "IAM.0011", "Only the token method is supported: auth.identity.methods = [\"token\"].")
    token = field(data, "auth", "identity", "token", "id") or head.headers.get("X-Auth-Token")
    if not isinstance(token, str):
        raise IamError(401, "IAM.0001", "The request you have made requires authentication.")
    duration = field(data, "auth", "identity", "token", "duration_seconds")
    duration = 900 if duration is None else duration
    if not isinstance(duration, int) or isinstance(duration, bool) or not 900 <= duration <= 86400:
        raise IamError(400, "IAM.0011", "duration_seconds must be an integer from 900 to 86400.")
    claims = await services.authn.guarded_claims(token, head.source_ip)
    credential = services.temporary.issue(claims, duration_s=duration)
    body = {"credential": {"access": credential.access, "secret": credential.secret,
                           "securitytoken": credential.security_token,
                           "expires_at": iso(credential.expires_at)}}
    return web.json_response(body, status=201)


# --- shared ---------------------------------------------------------------------------------------

async def _authenticated(request: web.Request, head: RequestHead, services: Services) -> Principal:
    """Token or AK/SK, exactly as for DDM routes (authn); a locked AK is refused here too."""
    listen = services.runtime.config.listen
    with BodyLease(services.bodies) as lease:   # a signed body is only needed for the signature
        read_body = (functools.partial(lease.read_request, request, MAX_IAM_BODY, timeout_s=listen.body_timeout_s)
                     if request.body_exists else None)
        principal, _body = await services.authn.authenticate(head, services.runtime, read_body=read_body)
    try:
        await services.authn.refuse_locked(principal)
    except AuthFailure:
        raise IamError(401, "IAM.0001", LOCKED) from None
    return principal


def _identity(services: Services, principal: Principal) -> Identity:
    return _identity_or_404(services, principal.user_id)


def _identity_or_404(services: Services, user_id: str) -> Identity:
    identity = services.runtime.directory.by_user_id(user_id)
    if identity is None:
        raise IamError(404, "IAM.0004", "Could not find user.")
    return identity


def add_iam_routes(app: web.Application, *, wrap: Callable[[EdgeHandler], Handler]) -> None:
    """The IAM routes, each handler wrapped by `wrap` (the app's request-id stage)."""
    expect = expect_within(lambda request: MAX_IAM_BODY)
    app.router.add_post("/v3/auth/tokens", wrap(create_token), expect_handler=expect)
    app.router.add_get("/v3/auth/tokens", wrap(validate_token))   # allow_head: HEAD validates too
    app.router.add_delete("/v3/auth/tokens", wrap(revoke_token))
    app.router.add_get("/v3/auth/projects", wrap(list_auth_projects))
    app.router.add_get("/v3/projects", wrap(list_projects))
    app.router.add_get("/v3/auth/domains", wrap(list_auth_domains))
    app.router.add_post("/v3.0/OS-CREDENTIAL/securitytokens", wrap(create_security_token),
                        expect_handler=expect)
