"""How the gateway authenticates itself to DDM (`upstream.auth.mode`).

The gateway verified the client already; DDM must now trust the gateway. Each mode is one small
class with the same `apply` step over an immutable `OutgoingRequest`, so the proxy client never
knows which mode runs. `token` lives in `token_auth.py` (it does I/O and caching).
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from typing import Protocol

import signer

from .headers import merge_duplicates, value_of, without
from .outgoing import Clock, OutgoingRequest, UpstreamAuth
from .token_auth import TokenUpstreamAuth, default_session_factory

__all__ = ["AkSkUpstreamAuth", "Clock", "NoUpstreamAuth", "OutgoingRequest", "PassthroughUpstreamAuth",
           "TokenUpstreamAuth", "UpstreamAuth", "upstream_auth_from_config", "utc_now"]

# Not signed, like the official SDK: HTTP libraries add or rewrite it after signing.
_UNSIGNED: frozenset[str] = frozenset({"content-length"})
_PROJECT_HEADER = "X-Project-Id"


class AkSkUpstreamAuth:
    """Re-signs every request with the gateway's own AK/SK (SDK-HMAC-SHA256 by default)."""

    keeps_client_credentials = False
    needs_body = True

    def __init__(self, ak: str, sk: str, *, clock: Clock, algorithm: str = "SDK-HMAC-SHA256") -> None:
        self._ak = ak
        self._sk = sk
        self._clock = clock
        self._algorithm = algorithm
        self._keys = signer.DerivedKeyCache(max_entries=4)   # ECDSA/SM2: derived once, not per request

    def __repr__(self) -> str:  # never show the secret key
        return f"AkSkUpstreamAuth(ak={self._ak!r}, algorithm={self._algorithm!r})"

    async def apply(self, out: OutgoingRequest) -> OutgoingRequest:
        headers = without(out.headers, frozenset({_PROJECT_HEADER.lower()}))
        if out.project_id:
            headers = headers + ((_PROJECT_HEADER, out.project_id),)
        headers = merge_duplicates(headers)
        signable = signer.SignableRequest(
            out.method, out.raw_path, out.raw_query,
            {name.lower(): value for name, value in headers if name.lower() not in _UNSIGNED},
            out.body or b"")
        added = signer.sign(signable, self._ak, self._sk, now=self._clock(), algorithm=self._algorithm,
                            key_cache=self._keys)
        added_names = frozenset(name.lower() for name in added)
        final = without(headers, added_names) + tuple(added.items())
        return out._replace(headers=final)

    def rejected(self, sent: OutgoingRequest) -> None:
        return None

    def credentials(self, sent: OutgoingRequest) -> tuple[str, ...]:
        """The signature (an hour's replayable proof of the SK for this request)."""
        authorization = value_of(sent.headers, "Authorization") or ""
        _, found, rest = authorization.partition("Signature=")
        signature = rest.split(",", 1)[0].strip()
        return (signature,) if found and signature else ()

    async def close(self) -> None:
        return None


class _AddsNothing:
    """Shared by the modes that leave the outgoing request as it is."""

    keeps_client_credentials = False
    needs_body = False

    async def apply(self, out: OutgoingRequest) -> OutgoingRequest:
        return out

    def rejected(self, sent: OutgoingRequest) -> None:
        return None

    def credentials(self, sent: OutgoingRequest) -> tuple[str, ...]:
        return ()   # nothing of the gateway's own (passthrough forwards the client's)

    async def close(self) -> None:
        return None


class PassthroughUpstreamAuth(_AddsNothing):
    """Forwards the client's own Authorization / X-Auth-Token: DDM checks them itself."""

    keeps_client_credentials = True


class NoUpstreamAuth(_AddsNothing):
    """Adds nothing: an upstream that trusts the network (the embedded simulator, tests)."""


def utc_now() -> datetime:
    """The real clock, read only at the edge and injected everywhere else."""
    return datetime.now(timezone.utc)


class UpstreamAuthSettings(Protocol):
    """The `upstream.auth` section as the proxy reads it (gateway.config's UpstreamAuthConfig
    has these fields; the proxy does not import the config package)."""

    @property
    def mode(self) -> str: ...
    @property
    def ak(self) -> str | None: ...
    @property
    def sk(self) -> str | None: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def iam_url(self) -> str | None: ...
    @property
    def domain_name(self) -> str | None: ...
    @property
    def user_name(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def project_name(self) -> str | None: ...
    @property
    def project_id(self) -> str | None: ...


def upstream_auth_from_config(cfg: UpstreamAuthSettings, *, clock: Clock = utc_now,
                              trust_env: bool = True) -> UpstreamAuth:
    """The mode named by `upstream.auth.mode` (the config loader checked each mode's required
    fields). `trust_env`: the token mode's IAM calls honour HTTP(S)_PROXY / NO_PROXY."""
    mode = (cfg.mode or "none").lower()
    if mode == "aksk":
        return AkSkUpstreamAuth(_required(cfg.ak, "ak"), _required(cfg.sk, "sk"), clock=clock,
                                algorithm=cfg.algorithm or "SDK-HMAC-SHA256")
    if mode == "token":
        return TokenUpstreamAuth(
            partial(default_session_factory, trust_env=trust_env), iam_url=_required(cfg.iam_url, "iam_url"),
            user_name=_required(cfg.user_name, "user_name"), password=_required(cfg.password, "password"),
            domain_name=_required(cfg.domain_name, "domain_name"), project_id=cfg.project_id,
            project_name=cfg.project_name, clock=clock)
    if mode == "passthrough":
        return PassthroughUpstreamAuth()
    if mode == "none":
        return NoUpstreamAuth()
    raise ValueError(f"upstream.auth.mode: unknown mode {mode!r} (aksk | token | passthrough | none)")


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise ValueError(f"upstream.auth.{name} is required for this mode")
    return value
