"""Stage 3: who is calling. X-Auth-Token (our JWT), AK/SK signature, or temporary AK/SK.

Produces one immutable Principal. Nothing here decides what the caller may do; failures are
401 APIGW.0301 with Huawei's reason texts (APIGW.0307 for an expired token), never a secret.
"""
from __future__ import annotations

from aiohttp import web

from signer import SignableRequest, SignatureError, parse_authorization, verify

from ..errors import GatewayError
from ..iam.tokens import TokenClaims, TokenError, TokenExpired
from ..identity import Identity
from ..principal import AUTH_AKSK, AUTH_TEMPORARY, AUTH_TOKEN, Principal
from ..services import Services

PREFIX = "Incorrect IAM authentication information: "


def unauthorized(reason: str) -> GatewayError:
    return GatewayError.of("unauthorized", PREFIX + reason)


def wants_body(request: web.Request) -> bool:
    """AK/SK signatures cover the body, so those requests must be buffered before verifying."""
    return "Authorization" in request.headers and "X-Auth-Token" not in request.headers


class _BadSignature(Exception):
    """A well-formed AK/SK request whose signature did not verify: counts toward the AK's lockout."""

    def __init__(self, access_key: str, reason: str) -> None:
        super().__init__(reason)
        self.access_key = access_key
        self.reason = reason


async def authenticate(request: web.Request, services: Services, *, body: bytes | None,
                       source_ip: str) -> Principal:
    """The success path is synchronous (no coroutine per step); only failures touch the store."""
    services.auth_guard.check(source_ip)
    try:
        try:
            return _authenticate(request, services, body, source_ip)
        except _BadSignature as bad:
            locked = await _record_signature_failure(services, bad.access_key)
            raise unauthorized("AK access failed to reach the limit,forbidden." if locked else bad.reason) from None
    except GatewayError as err:
        if err.status == 401:
            services.observability.metrics.auth_failures.inc(failure_reason(err.message))
            await services.auth_guard.record_failure(source_ip)
        raise


# Metric label for a 401, by the phrase its message contains (first match wins).
FAILURE_REASONS = (("not exist", "unknown_access_key"), ("verify aksk signature fail", "bad_signature"),
                   ("signature expired", "date_out_of_window"), ("reach the limit", "locked_access_key"),
                   ("securitytoken", "bad_security_token"), ("not found", "missing_credentials"),
                   ("token must be updated", "expired_token"), ("token", "bad_token"))


def failure_reason(message: str) -> str:
    lowered = message.lower()
    return next((label for phrase, label in FAILURE_REASONS if phrase in lowered), "other")


def _authenticate(request: web.Request, services: Services, body: bytes | None,
                  source_ip: str) -> Principal:
    token = request.headers.get("X-Auth-Token")
    if token is not None:
        return principal_from_token(services, token, source_ip)
    header = request.headers.get("Authorization")
    if header is not None:
        return _from_signature(request, services, header, body or b"", source_ip)
    raise unauthorized("x-auth-token not found")


def claims_from_token(services: Services, token: str) -> TokenClaims:
    """A valid, unrevoked token's claims, or 401 (APIGW.0307 when merely expired)."""
    try:
        claims = services.tokens.verify(token)
    except TokenExpired:
        raise GatewayError.of("token_expired") from None
    except TokenError as err:
        raise unauthorized(err.reason) from None
    if services.revocations.is_revoked(claims.token_id):
        raise unauthorized("token has been revoked")
    return claims


def principal_from_token(services: Services, token: str, source_ip: str) -> Principal:
    claims = claims_from_token(services, token)
    identity = _identity_for_claims(services, claims)
    return _principal(identity, AUTH_TOKEN, source_ip, claims.project_id, claims.project_name,
                      token_id=claims.token_id)


def _identity_for_claims(services: Services, claims: TokenClaims) -> Identity:
    identity = services.runtime.directory.by_user_id(claims.user_id)
    if identity is None or identity.domain.id != claims.domain_id or not identity.enabled:
        raise unauthorized("the user of this credential no longer exists")
    return identity


def _from_signature(request: web.Request, services: Services, header: str, body: bytes,
                    source_ip: str) -> Principal:
    try:
        auth = parse_authorization(header)
    except SignatureError as err:
        raise unauthorized(err.reason) from None
    identity, secret, method = _credential(services, auth.access_key,
                                                   request.headers.get("X-Security-Token"))
    runtime = services.runtime
    signable = SignableRequest(
        method=request.method, raw_path=request.raw_path.split("?", 1)[0],
        raw_query=request.rel_url.raw_query_string,
        headers=_single_valued_headers(request, auth.signed_headers), body=body)
    try:
        verify(signable, auth, secret, now=services.clock(), max_skew_s=runtime.config.auth.max_clock_skew_s,
               expected_region=runtime.config.region, key_cache=services.key_cache)
    except SignatureError as err:
        raise _BadSignature(auth.access_key, err.reason) from None
    project_id = request.headers.get("X-Project-Id")
    project = runtime.directory.project(project_id) if project_id else None
    project_name = project.name if project is not None else None
    return _principal(identity, method, source_ip, project_id, project_name,
                      access_key=auth.access_key)


def _single_valued_headers(request: web.Request, signed: tuple[str, ...]) -> dict[str, str]:
    """Lowercased headers; a signed header sent twice is ambiguous (which copy was signed?)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    if len(headers) != len(request.headers):
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


async def _record_signature_failure(services: Services, access_key: str) -> bool:
    auth_cfg = services.runtime.config.auth
    try:
        return bool(await services.store.record_failure(
            lock_key_for(access_key), threshold=auth_cfg.lockout_threshold, lock_s=auth_cfg.lockout_s))
    except Exception:  # a store outage must not turn a 401 into a 500
        return False


def lock_key_for(access_key: str) -> str:
    return f"ak:{access_key}"


def _principal(identity: Identity, method: str, source_ip: str, project_id: str | None,
               project_name: str | None, *, access_key: str | None = None,
               token_id: str | None = None) -> Principal:
    return Principal(
        domain_id=identity.domain.id, domain_name=identity.domain.name,
        user_id=identity.user_id, user_name=identity.user_name, groups=identity.groups,
        domain_owner=identity.domain_owner, auth_method=method, source_ip=source_ip,
        project_id=project_id, project_name=project_name, access_key=access_key,
        token_id=token_id)
