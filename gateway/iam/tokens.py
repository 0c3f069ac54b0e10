"""IAM tokens as JWTs: issue on login, verify on every request, with no shared state but the keys.

WHY the checks are this strict: the token is the caller's whole identity, so
- the algorithm comes from the KeyRing entry named by `kid`, never from the token (no `none`, no
  HMAC keyed with our public key, no RS/ES confusion);
- size and shape are checked before any base64/JSON/crypto work, so garbage is cheap to refuse;
- `exp`, `iat`, `jti` and our own claims are required and type-checked, and time is judged with the
  injected clock (PyJWT's own time checks read the wall clock, so they are switched off);
- an expired but otherwise valid token raises `TokenExpired` (the gateway answers APIGW.0307),
  every other failure `TokenError` with a short reason that is safe to put in a 401.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import jwt

if TYPE_CHECKING:   # pyjwt's TypedDict of decode options (2.10+); only the checker reads it
    from jwt.types import Options

from .keys import KeyRing

ISSUER = "ddm-gateway"
MAX_TOKEN_BYTES = 8 * 1024
FUTURE_IAT_TOLERANCE_S = 5   # replicas' clocks may differ by a little
REQUIRED_CLAIMS = ("exp", "iat", "jti", "sub", "iss")
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
PYJWT_OPTIONS: Options = {
    "require": list(REQUIRED_CLAIMS),
    "verify_exp": False, "verify_iat": False, "verify_nbf": False,  # judged with the injected clock
    "verify_aud": False,
}


class TokenError(Exception):
    """A token or credential that must be refused; `reason` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenExpired(TokenError):
    """Authentic but past `expires_at`: the client should fetch a new one (APIGW.0307)."""


@dataclass(frozen=True)
class TokenClaims:
    """Who a token (or a temporary credential) speaks for, and for how long."""

    token_id: str            # jti
    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    project_id: str | None   # None for domain-scoped tokens
    project_name: str | None
    methods: tuple[str, ...]  # ("password",) or ("token",)
    issued_at: int           # epoch seconds
    expires_at: int
    domain_owner: bool

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready claims, registered JWT names where one exists."""
        project = None if self.project_id is None else {"id": self.project_id, "name": self.project_name}
        return {"jti": self.token_id, "sub": self.user_id, "iat": self.issued_at, "exp": self.expires_at,
                "name": self.user_name, "domain": {"id": self.domain_id, "name": self.domain_name},
                "project": project, "methods": list(self.methods), "domain_owner": self.domain_owner}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> "TokenClaims":
        """The claims back from `to_payload()` output; any missing or mistyped field -> TokenError."""
        domain = _object(payload, "domain")
        project = payload.get("project")
        if project is not None and not isinstance(project, Mapping):
            raise TokenError("token claim project is malformed")
        return cls(
            token_id=_text(payload, "jti"), user_id=_text(payload, "sub"), user_name=_text(payload, "name"),
            domain_id=_text(domain, "id"), domain_name=_text(domain, "name"),
            project_id=_text(project, "id") if project is not None else None,
            project_name=_text(project, "name") if project is not None else None,
            methods=_methods(payload), issued_at=_epoch(payload, "iat"), expires_at=_epoch(payload, "exp"),
            domain_owner=_flag(payload, "domain_owner"))


def _object(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    if not isinstance(value, Mapping):
        raise TokenError(f"token claim {name} is malformed")
    return value


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise TokenError(f"token claim {name} is malformed")
    return value


def _epoch(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TokenError(f"token claim {name} is malformed")
    return value


def _flag(payload: Mapping[str, Any], name: str) -> bool:
    value = payload.get(name)
    if not isinstance(value, bool):
        raise TokenError(f"token claim {name} is malformed")
    return value


def _methods(payload: Mapping[str, Any]) -> tuple[str, ...]:
    value = payload.get("methods")
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m for m in value):
        raise TokenError("token claim methods is malformed")
    return tuple(value)


def iso_utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenService:
    """Issues and verifies the gateway's IAM tokens (X-Subject-Token / X-Auth-Token)."""

    def __init__(self, keys: KeyRing, *, ttl_s: int, clock: Callable[[], float],
                 cache_size: int = 10_000) -> None:
        if ttl_s <= 0:
            raise ValueError("tokens.ttl_s must be positive")
        self._keys = keys
        self._ttl_s = ttl_s
        self._clock = clock
        # Authentic tokens already seen -> their claims. An ECDSA verification costs ~200 us and a
        # client reuses one token for hours; the time checks below still run on every call.
        self._authentic: dict[str, TokenClaims] = {}
        self._cache_size = cache_size

    def issue(self, *, user_id: str, user_name: str, domain_id: str, domain_name: str,
              project_id: str | None, project_name: str | None, methods: Sequence[str],
              domain_owner: bool, not_after: int | None = None) -> tuple[str, TokenClaims]:
        """A signed token and the claims it carries (a fresh `jti` each time, for revocation).
        `not_after`: the parent credential's expiry (a token obtained with a token), which the
        new token never outlives; otherwise it lives `ttl_s`."""
        issued_at = int(self._clock())
        expires_at = issued_at + self._ttl_s
        if not_after is not None:
            expires_at = min(expires_at, not_after)
        claims = TokenClaims(
            token_id=uuid.uuid4().hex, user_id=user_id, user_name=user_name, domain_id=domain_id,
            domain_name=domain_name, project_id=project_id,
            project_name=project_name if project_id is not None else None, methods=tuple(methods),
            issued_at=issued_at, expires_at=expires_at, domain_owner=domain_owner)
        TokenClaims.from_payload(claims.to_payload())  # refuse to sign what verify() would reject
        token = jwt.encode({"iss": ISSUER, **claims.to_payload()}, self._keys.signing_key,
                           algorithm=self._keys.algorithm, headers={"kid": self._keys.signing_kid})
        return token, claims

    def verify(self, token: str, *, cached_only: bool = False) -> TokenClaims:
        """The claims of an authentic, unexpired token; otherwise TokenExpired / TokenError.
        `cached_only`: refuse a token this replica has not verified before, without the
        signature check (for callers from an IP over its failed-auth budget)."""
        claims = self._authentic.get(token) if isinstance(token, str) else None
        if claims is None:
            if cached_only:
                raise TokenError("token not accepted from this source now")
            claims = TokenClaims.from_payload(self._authentic_payload(token))
            self._remember(token, claims)
        now = self._clock()
        if claims.issued_at > now + FUTURE_IAT_TOLERANCE_S:
            raise TokenError("token issued in the future")
        if now >= claims.expires_at:
            raise TokenExpired(f"token expires, expires_at: {iso_utc(claims.expires_at)}")
        return claims

    def _remember(self, token: str, claims: TokenClaims) -> None:
        if len(self._authentic) >= self._cache_size:
            self._authentic.pop(next(iter(self._authentic)))   # oldest first: bounded memory
        self._authentic[token] = claims

    def _authentic_payload(self, token: object) -> dict[str, Any]:
        """Shape, `kid`, pinned algorithm and signature, checked cheapest first."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
            raise TokenError("token too large" if isinstance(token, str) else "token is malformed")
        if not COMPACT_JWS.fullmatch(token):
            raise TokenError("token is malformed")
        header = _header(token)
        key = self._keys.verification_key(header.get("kid"))
        if key is None:
            raise TokenError("token signing key unknown")
        if header.get("alg") != key.algorithm:
            raise TokenError("token algorithm not allowed")
        try:
            return jwt.decode(token, key.public_key, algorithms=[key.algorithm], issuer=ISSUER,
                              options=PYJWT_OPTIONS)
        except jwt.MissingRequiredClaimError as err:
            raise TokenError(f"token is missing claim {err.claim}") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature invalid") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token issuer invalid") from None
        except jwt.PyJWTError:
            raise TokenError("token is malformed") from None


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("token is malformed") from None
    if not isinstance(header, dict):
        raise TokenError("token is malformed")
    return header
