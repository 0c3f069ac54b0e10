"""Stage 3: who is calling. X-Auth-Token (our JWT), AK/SK signature, or temporary AK/SK.

Produces one immutable Principal. Nothing here decides what the caller may do; failures are
401 APIGW.0301 with Huawei's reason texts (APIGW.0307 for an expired token), never a secret.
"""
from __future__ import annotations

from typing import Awaitable, Callable, NamedTuple

from aiohttp import web

from signer import Authorization, SignableRequest, SignatureError, parse_authorization, verify

from ..errors import GatewayError
from ..iam.tokens import TokenClaims, TokenError, TokenExpired
from ..identity import Identity
from ..limits import StoreUnavailable
from ..principal import AUTH_AKSK, AUTH_TEMPORARY, AUTH_TOKEN, Principal
from ..services import Services

PREFIX = "Incorrect IAM authentication information: "


def unauthorized(reason: str) -> GatewayError:
    return GatewayError.of("unauthorized", PREFIX + reason)


# Credential headers whose second copy would make "which one was checked?" a question (401).
SINGLE_CREDENTIAL_HEADERS = ("Authorization", "X-Auth-Token", "X-Sdk-Date", "X-Security-Token")
NON_IDEMPOTENT = frozenset({"POST", "PATCH"})
ReadBody = Callable[[], Awaitable[bytes]]


class _BadSignature(Exception):
    """A well-formed AK/SK request whose signature did not verify: counts toward the lockout."""

    def __init__(self, lock_key: str, reason: str) -> None:
        super().__init__(reason)
        self.lock_key = lock_key
        self.reason = reason


class Signer(NamedTuple):
    """An AK/SK request's credential, resolved before any body byte is read."""

    auth: Authorization
    identity: Identity
    secret: str
    method: str                     # AUTH_AKSK | AUTH_TEMPORARY
    lock_key: str


async def authenticate(request: web.Request, services: Services, *, source_ip: str,
                       read_body: ReadBody) -> tuple[Principal, bytes | None]:
    """The principal, and for an AK/SK request the body its signature covered (None for a
    token: the caller reads it later, through the same bounded reader). The access key, its
    lockout and the source IP's failed-auth budget are all judged before `read_body` runs."""
    over_budget = services.auth_guard.over_budget(source_ip)
    try:
        try:
            token = request.headers.get("X-Auth-Token")
            if token is not None:
                if len(request.headers.getall("X-Auth-Token")) > 1:
                    raise unauthorized("header X-Auth-Token appears more than once")
                return principal_from_token(services, token, source_ip, cached_only=over_budget), None
            return await _signed(request, services, source_ip, read_body)
        except _BadSignature as bad:
            locked = await _record_signature_failure(services, bad.lock_key)
            raise unauthorized("AK access failed to reach the limit,forbidden." if locked else bad.reason) from None
    except GatewayError as err:
        if err.status == 401:
            services.observability.metrics.auth_failures.inc(failure_reason(err.message))
            await services.auth_guard.record_failure(source_ip)
            if over_budget:
                raise services.auth_guard.refusal(source_ip) from None
        raise


async def _signed(request: web.Request, services: Services, source_ip: str,
                  read_body: ReadBody) -> tuple[Principal, bytes]:
    header = request.headers.get("Authorization")
    if header is None:
        raise unauthorized("x-auth-token not found")
    signer = _signer(services, header, request.headers.get("X-Security-Token"))
    body = b""
    if request.body_exists:   # nothing buffered for a locked AK (a GET's lock is judged in rate_limit)
        _refuse_duplicates(request)   # a bodiless request's duplicates are found with its signed headers
        if await _lock_remaining(services, signer.lock_key):
            raise unauthorized("AK access failed to reach the limit,forbidden.")
        body = await read_body()
    principal = _verified(request, services, signer, body, source_ip)
    if services.runtime.config.auth.replay_window and request.method in NON_IDEMPOTENT:
        await _refuse_replay(services, signer.auth.signature)
    return principal, body


def _refuse_duplicates(request: web.Request, names: tuple[str, ...] = SINGLE_CREDENTIAL_HEADERS) -> None:
    headers = request.headers
    for name in names:
        if len(headers.getall(name, ())) > 1:
            raise unauthorized(f"header {name} appears more than once")


# Metric label for a 401, by the phrase its message contains (first match wins).
FAILURE_REASONS = (("not exist", "unknown_access_key"), ("verify aksk signature fail", "bad_signature"),
                   ("signature expired", "date_out_of_window"), ("reach the limit", "locked_access_key"),
                   ("securitytoken", "bad_security_token"), ("not found", "missing_credentials"),
                   ("token must be updated", "expired_token"), ("token", "bad_token"))


def failure_reason(message: str) -> str:
    lowered = message.lower()
    return next((label for phrase, label in FAILURE_REASONS if phrase in lowered), "other")


def claims_from_token(services: Services, token: str, *, cached_only: bool = False) -> TokenClaims:
    """A valid, unrevoked token's claims, or 401 (APIGW.0307 when merely expired).
    `cached_only`: only a token already verified once is accepted (no signature check is paid
    for a caller from an IP over its failed-auth budget)."""
    try:
        claims = services.tokens.verify(token, cached_only=cached_only)
    except TokenExpired:
        raise GatewayError.of("token_expired") from None
    except TokenError as err:
        raise unauthorized(err.reason) from None
    if services.revocations.is_revoked(claims.token_id):
        raise unauthorized("token has been revoked")
    return claims


def principal_from_token(services: Services, token: str, source_ip: str, *,
                         cached_only: bool = False) -> Principal:
    claims = claims_from_token(services, token, cached_only=cached_only)
    identity = _identity_for_claims(services, claims)
    return _principal(identity, AUTH_TOKEN, source_ip, claims.project_id, claims.project_name,
                      token_id=claims.token_id)


def _identity_for_claims(services: Services, claims: TokenClaims) -> Identity:
    identity = services.runtime.directory.by_user_id(claims.user_id)
    if identity is None or identity.domain.id != claims.domain_id or not identity.enabled:
        raise unauthorized("the user of this credential no longer exists")
    return identity


def _signer(services: Services, header: str, security_token: str | None) -> Signer:
    try:
        auth = parse_authorization(header)
    except SignatureError as err:
        raise unauthorized(err.reason) from None
    identity, secret, method = _credential(services, auth.access_key, security_token)
    temporary = method == AUTH_TEMPORARY
    lock_key = temporary_lock_key(identity.user_id) if temporary else lock_key_for(auth.access_key)
    return Signer(auth, identity, secret, method, lock_key)


def _verified(request: web.Request, services: Services, signer: Signer, body: bytes,
              source_ip: str) -> Principal:
    runtime = services.runtime
    auth = signer.auth
    signable = SignableRequest(
        method=request.method, raw_path=request.raw_path.split("?", 1)[0],
        raw_query=request.rel_url.raw_query_string,
        headers=_single_valued_headers(request, auth.signed_headers), body=body)
    try:
        verify(signable, auth, signer.secret, now=services.clock(),
               max_skew_s=runtime.config.auth.max_clock_skew_s,
               expected_region=runtime.config.region, key_cache=services.key_cache)
    except SignatureError as err:
        raise _BadSignature(signer.lock_key, err.reason) from None
    project_id = request.headers.get("X-Project-Id")
    project = runtime.directory.project(project_id) if project_id else None
    project_name = project.name if project is not None else None
    return _principal(signer.identity, signer.method, source_ip, project_id, project_name,
                      access_key=auth.access_key)


async def _refuse_replay(services: Services, signature: str) -> None:
    """`auth.replay_window`: a signature is good for one non-idempotent request. It stays valid
    for the skew window either side of its X-Sdk-Date, so it is remembered for twice that."""
    window = 2 * services.runtime.config.auth.max_clock_skew_s
    try:
        first = await services.store.claim_once(f"replay:{signature}", ttl_s=window)
    except StoreUnavailable:
        raise GatewayError.of("store_unavailable") from None
    if not first:
        raise unauthorized("the request has already been received (replayed signature)")


async def _lock_remaining(services: Services, lock_key: str) -> float:
    try:
        return float(await services.store.lock_remaining(lock_key))
    except StoreUnavailable:
        raise GatewayError.of("store_unavailable") from None


def _single_valued_headers(request: web.Request, signed: tuple[str, ...]) -> dict[str, str]:
    """Lowercased headers; a signed header or a credential header sent twice is ambiguous
    (which copy was signed? which one was checked?). Fewer keys than lines means some name
    repeats: only then are the names looked at."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    if len(headers) != len(request.headers):
        _refuse_duplicates(request)
        for name in signed:
            if len(request.headers.getall(name, ())) > 1:
                raise unauthorized(f"signed header {name} appears more than once")
    return headers


def _credential(services: Services, access_key: str, security_token: str | None
                ) -> tuple[Identity, str, str]:
    if security_token is not None:
        try:
            secret, claims = services.temporary.resolve(access_key, security_token)
        except TokenExpired:
            raise unauthorized("The securitytoken has expired.") from None
        except TokenError as err:
            raise unauthorized(err.reason) from None
        if services.revocations.is_revoked(claims.token_id):   # revoking a token ends its temporary keys
            raise unauthorized("The securitytoken has been revoked.")
        return _identity_for_claims(services, claims), secret, AUTH_TEMPORARY
    found = services.runtime.directory.by_access_key(access_key)
    if found is None:
        raise unauthorized(f"ak {access_key} not exist")
    identity, secret = found
    if not identity.enabled:
        raise unauthorized(f"ak {access_key} not exist")
    return identity, secret, AUTH_AKSK


async def _record_signature_failure(services: Services, lock_key: str) -> bool:
    auth_cfg = services.runtime.config.auth
    try:
        return bool(await services.store.record_failure(
            lock_key, threshold=auth_cfg.lockout_threshold, lock_s=auth_cfg.lockout_s))
    except Exception:  # a store outage must not turn a 401 into a 500
        return False


def lock_key_for(access_key: str) -> str:
    return f"ak:{access_key}"


def temporary_lock_key(user_id: str) -> str:
    """Every temporary AK of one user shares one lockout: each AK is new, the user is not."""
    return f"tmpak:{user_id}"


def lock_key_of(principal: Principal) -> str | None:
    """The lockout an AK/SK principal's request is judged against (None for tokens)."""
    if principal.auth_method == AUTH_AKSK and principal.access_key:
        return lock_key_for(principal.access_key)
    if principal.auth_method == AUTH_TEMPORARY:
        return temporary_lock_key(principal.user_id)
    return None


def _principal(identity: Identity, method: str, source_ip: str, project_id: str | None,
               project_name: str | None, *, access_key: str | None = None,
               token_id: str | None = None) -> Principal:
    return Principal(
        domain_id=identity.domain.id, domain_name=identity.domain.name,
        user_id=identity.user_id, user_name=identity.user_name, groups=identity.groups,
        domain_owner=identity.domain_owner, auth_method=method, source_ip=source_ip,
        project_id=project_id, project_name=project_name, access_key=access_key,
        token_id=token_id)
