"""Who is calling: X-Auth-Token (our JWT), AK/SK signature, or temporary AK/SK.

One `Authenticator` turns a RequestHead into one immutable Principal, or raises AuthFailure:
401 APIGW.0301 with Huawei's reason texts (APIGW.0307 for an expired token), never a secret,
and a `reason` label (failures.AUTH_FAILURE_REASONS) that metrics and logs take as it is. It
owns everything that decides it: token verification and revocation, the directory's keys,
temporary credentials, the AK lockout, the source IP's failed-auth budget (guard.py) and the
project scope (scope.py). Nothing here decides what the caller may do. The DDM pipeline, the
usage route and the IAM routes all authenticate through it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable, NamedTuple, Protocol

from signer import Authorization, DerivedKeyCache, SignableRequest, SignatureError, parse_authorization, verify

from ..errors import GatewayError
from ..iam.temporary import TemporaryCredentialService
from ..iam.tokens import TokenClaims, TokenError, TokenExpired, TokenService
from ..identity import Identity, IdentityDirectory, Project
from ..limits import LimitStore, StoreUnavailable
from ..principal import AUTH_AKSK, AUTH_TEMPORARY, AUTH_TOKEN, Principal
from ..request import RequestHead
from .failures import AuthFailure, locked, token_expired, unauthorized
from .guard import FailedAuthGuard
from .revocation import RevocationCache
from .scope import check_project_scope

if TYPE_CHECKING:
    from ..config.model import GatewayConfig


# Credential headers whose second copy would make "which one was checked?" a question (401).
SINGLE_CREDENTIAL_HEADERS = ("Authorization", "X-Auth-Token", "X-Sdk-Date", "X-Security-Token")
NON_IDEMPOTENT = frozenset({"POST", "PATCH"})
ReadBody = Callable[[], Awaitable[bytes]]


class _BadSignature(Exception):
    """A well-formed AK/SK request whose signature did not verify: counts toward the lockout."""

    def __init__(self, lock_key: str, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.lock_key = lock_key
        self.reason = reason
        self.kind = kind


class Signer(NamedTuple):
    """An AK/SK request's credential, resolved before any body byte is read."""

    auth: Authorization
    identity: Identity
    secret: str
    method: str                     # AUTH_AKSK | AUTH_TEMPORARY
    lock_key: str


class AuthContext(Protocol):
    """What authentication reads from the current config snapshot (services.Runtime, swapped
    as a whole on reload, so one request sees one config)."""

    @property
    def config(self) -> GatewayConfig: ...

    @property
    def directory(self) -> IdentityDirectory: ...


class Authenticator:
    def __init__(self, *, tokens: TokenService, temporary: TemporaryCredentialService,
                 revocations: RevocationCache, store: LimitStore, guard: FailedAuthGuard,
                 key_cache: DerivedKeyCache, clock: Callable[[], float],
                 count_failure: Callable[[str], None]) -> None:
        self.tokens = tokens
        self.temporary = temporary
        self.revocations = revocations
        self.store = store
        self.guard = guard
        self.key_cache = key_cache
        self.clock = clock
        self.count_failure = count_failure     # the ddmgw_auth_failures_total counter, by reason

    async def start(self) -> None:
        await self.revocations.start()

    async def close(self) -> None:
        await self.revocations.close()

    # --- the one entry point ------------------------------------------------------------------

    async def authenticate(self, head: RequestHead, ctx: AuthContext, *,
                           read_body: ReadBody | None) -> tuple[Principal, bytes | None]:
        """The principal, and for an AK/SK request the body its signature covered (None for a
        token: the caller reads it later, through the same bounded reader). `read_body` None:
        the request has no body. The access key, its lockout and the source IP's failed-auth
        budget are all judged before `read_body` runs."""
        source_ip = head.source_ip
        over_budget = self.guard.over_budget(source_ip)
        try:
            try:
                token = head.headers.get("X-Auth-Token")
                if token is not None:
                    if head.count("X-Auth-Token") > 1:
                        raise unauthorized("header X-Auth-Token appears more than once", reason="duplicate_header")
                    return self.principal_from_token(ctx, token, source_ip, cached_only=over_budget), None
                return await self._signed(head, ctx, read_body)
            except _BadSignature as bad:
                if await self._record_signature_failure(ctx, bad.lock_key):
                    raise locked() from None
                raise unauthorized(bad.reason, reason=bad.kind) from None
        except AuthFailure as failure:
            raise await self.charged(failure, source_ip, over_budget=over_budget) from None

    async def charged(self, failure: AuthFailure, source_ip: str, *, over_budget: bool) -> GatewayError:
        """A failed authentication, counted under its reason and against the source IP's
        failed-auth budget: the error to answer (the guard's 429 for an IP over budget already)."""
        self.count_failure(failure.reason)
        await self.guard.record_failure(source_ip)
        return self.guard.refusal(source_ip) if over_budget else failure

    async def guarded_claims(self, token: str, source_ip: str) -> TokenClaims:
        """A token's claims (the IAM routes' parent token), counted against the source IP's
        failed-auth budget like any credential: from an IP over budget, only a token this
        replica already verified passes."""
        over_budget = self.guard.over_budget(source_ip)
        try:
            return self.claims_from_token(token, cached_only=over_budget)
        except AuthFailure as failure:
            raise await self.charged(failure, source_ip, over_budget=over_budget) from None

    async def refuse_locked(self, principal: Principal) -> None:
        """A locked AK is refused (the DDM pipeline judges it in the rate-limit round trip
        instead, pipeline/ratelimit.py, to spend no extra store call on the successful path)."""
        lock_key = lock_key_of(principal)
        if lock_key is not None and await self.lock_remaining(lock_key):
            raise locked()

    async def lock_remaining(self, lock_key: str) -> float:
        try:
            return float(await self.store.lock_remaining(lock_key))
        except StoreUnavailable:
            raise GatewayError.of("store_unavailable") from None

    def project_scope(self, principal: Principal, head: RequestHead, path_project_id: str | None,
                      ctx: AuthContext) -> Project | None:
        """The project the path names, checked against the credential's scope (403 APIGW.0310)."""
        return check_project_scope(principal, path_project_id, ctx.directory,
                                   header_project_id=head.headers.get("X-Project-Id"))

    # --- tokens -----------------------------------------------------------------------------------

    def claims_from_token(self, token: str, *, cached_only: bool = False) -> TokenClaims:
        """A valid, unrevoked token's claims, or 401 (APIGW.0307 when merely expired).
        `cached_only`: only a token already verified once is accepted (no signature check is
        paid for a caller from an IP over its failed-auth budget)."""
        try:
            claims = self.tokens.verify(token, cached_only=cached_only)
        except TokenExpired:
            raise token_expired() from None
        except TokenError as err:
            raise unauthorized(err.reason, reason="bad_token") from None
        if self.revocations.is_revoked(claims.token_id):
            raise unauthorized("token has been revoked", reason="bad_token")
        return claims

    def principal_from_token(self, ctx: AuthContext, token: str, source_ip: str, *,
                             cached_only: bool = False) -> Principal:
        claims = self.claims_from_token(token, cached_only=cached_only)
        identity = _identity_for_claims(ctx, claims)
        return _principal(identity, AUTH_TOKEN, source_ip, claims.project_id, claims.project_name,
                          token_id=claims.token_id)

    # --- AK/SK ----------------------------------------------------------------------------------

    async def _signed(self, head: RequestHead, ctx: AuthContext,
                      read_body: ReadBody | None) -> tuple[Principal, bytes]:
        header = head.headers.get("Authorization")
        if header is None:
            raise unauthorized("x-auth-token not found", reason="missing_credentials")
        signer = self._signer(ctx, header, head.headers.get("X-Security-Token"))
        body = b""
        if read_body is not None:   # nothing buffered for a locked AK (a GET's lock is judged in rate_limit)
            _refuse_duplicates(head)   # a bodiless request's duplicates are found with its signed headers
            if await self.lock_remaining(signer.lock_key):
                raise locked()
            body = await read_body()
        principal = self._verified(head, ctx, signer, body)
        if ctx.config.auth.replay_window and head.method in NON_IDEMPOTENT:
            await self._refuse_replay(ctx, signer.auth.signature)
        return principal, body

    def _signer(self, ctx: AuthContext, header: str, security_token: str | None) -> Signer:
        try:
            auth = parse_authorization(header)
        except SignatureError as err:
            raise unauthorized(err.reason, reason=err.kind) from None
        identity, secret, method = self._credential(ctx, auth.access_key, security_token)
        temporary = method == AUTH_TEMPORARY
        lock_key = temporary_lock_key(identity.user_id) if temporary else lock_key_for(auth.access_key)
        return Signer(auth, identity, secret, method, lock_key)

    def _verified(self, head: RequestHead, ctx: AuthContext, signer: Signer, body: bytes) -> Principal:
        auth = signer.auth
        signable = SignableRequest(method=head.method, raw_path=head.raw_path, raw_query=head.raw_query,
                                   headers=_single_valued_headers(head, auth.signed_headers), body=body)
        try:
            verify(signable, auth, signer.secret, now=self.clock(),
                   max_skew_s=ctx.config.auth.max_clock_skew_s,
                   expected_region=ctx.config.region, key_cache=self.key_cache)
        except SignatureError as err:
            raise _BadSignature(signer.lock_key, err.reason, err.kind) from None
        project_id = head.headers.get("X-Project-Id")
        project = ctx.directory.project(project_id) if project_id else None
        project_name = project.name if project is not None else None
        return _principal(signer.identity, signer.method, head.source_ip, project_id, project_name,
                          access_key=auth.access_key)

    async def _refuse_replay(self, ctx: AuthContext, signature: str) -> None:
        """`auth.replay_window`: a signature is good for one non-idempotent request. It stays
        valid for the skew window either side of its X-Sdk-Date, so it is remembered for twice
        that."""
        window = 2 * ctx.config.auth.max_clock_skew_s
        try:
            first = await self.store.claim_once(f"replay:{signature}", ttl_s=window)
        except StoreUnavailable:
            raise GatewayError.of("store_unavailable") from None
        if not first:
            raise unauthorized("the request has already been received (replayed signature)",
                               reason="replayed_signature")

    def _credential(self, ctx: AuthContext, access_key: str, security_token: str | None
                    ) -> tuple[Identity, str, str]:
        if security_token is not None:
            try:
                secret, claims = self.temporary.resolve(access_key, security_token)
            except TokenExpired:
                raise unauthorized("The securitytoken has expired.", reason="bad_security_token") from None
            except TokenError as err:
                raise unauthorized(err.reason, reason="bad_security_token") from None
            if self.revocations.is_revoked(claims.token_id):   # revoking a token ends its temporary keys
                raise unauthorized("The securitytoken has been revoked.", reason="bad_security_token")
            return _identity_for_claims(ctx, claims), secret, AUTH_TEMPORARY
        found = ctx.directory.by_access_key(access_key)
        if found is None:
            raise unauthorized(f"ak {access_key} not exist", reason="unknown_access_key")
        identity, secret = found
        if not identity.enabled:
            raise unauthorized(f"ak {access_key} not exist", reason="unknown_access_key")
        return identity, secret, AUTH_AKSK

    async def _record_signature_failure(self, ctx: AuthContext, lock_key: str) -> bool:
        auth_cfg = ctx.config.auth
        try:
            return bool(await self.store.record_failure(
                lock_key, threshold=auth_cfg.lockout_threshold, lock_s=auth_cfg.lockout_s))
        except Exception:  # a store outage must not turn a 401 into a 500
            return False


def _refuse_duplicates(head: RequestHead, names: tuple[str, ...] = SINGLE_CREDENTIAL_HEADERS) -> None:
    for name in names:
        if head.count(name) > 1:
            raise unauthorized(f"header {name} appears more than once", reason="duplicate_header")


def _single_valued_headers(head: RequestHead, signed: tuple[str, ...]) -> dict[str, str]:
    """The headers lowercased, once, for the signature check; a signed header or a credential
    header sent twice is ambiguous (which copy was signed? which one was checked?). Fewer keys
    than lines means some name repeats: only then are the names looked at."""
    headers = {name.lower(): value for name, value in head.headers.items()}
    if len(headers) != len(head.headers):
        _refuse_duplicates(head)
        for name in signed:
            if head.count(name) > 1:
                raise unauthorized(f"signed header {name} appears more than once", reason="duplicate_header")
    return headers


def _identity_for_claims(ctx: AuthContext, claims: TokenClaims) -> Identity:
    identity = ctx.directory.by_user_id(claims.user_id)
    if identity is None or identity.domain.id != claims.domain_id or not identity.enabled:
        raise unauthorized("the user of this credential no longer exists", reason="unknown_user")
    return identity


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
