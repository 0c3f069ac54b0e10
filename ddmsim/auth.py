"""Optional upstream authentication: what lets tests prove the gateway re-signs correctly.

``--require-aksk AK:SK`` demands a valid SDK signature by that key; ``--require-token T``
demands ``X-Auth-Token: T``. With both, either is enough. Errors use APIG's shape, as the real
endpoint answers before DDM sees the request.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timezone

from signer import SignableRequest, SignatureError, parse_authorization, verify


@dataclass(frozen=True)
class UpstreamAuth:
    aksk: tuple[str, str] | None
    token: str | None

    @property
    def enabled(self) -> bool:
        return self.aksk is not None or self.token is not None


def token_ok(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


def signature_problem(aksk: tuple[str, str], req: SignableRequest, now: float) -> str | None:
    """None when ``req`` carries a valid signature by ``aksk``; else why not (no secrets in it)."""
    header = req.headers.get("authorization")
    if not header:
        return "verify aksk signature fail, missing Authorization"
    try:
        auth = parse_authorization(header)
        if not hmac.compare_digest(auth.access_key.encode(), aksk[0].encode()):
            return "verify aksk signature fail, unknown access key"
        verify(req, auth, aksk[1], now=datetime.fromtimestamp(now, tz=timezone.utc))
    except SignatureError as exc:
        return str(getattr(exc, "reason", exc))
    except (KeyError, ValueError) as exc:
        return f"verify aksk signature fail, malformed request ({type(exc).__name__})"
    return None


def auth_problem(policy: UpstreamAuth, req: SignableRequest, now: float) -> str | None:
    """None when any configured method accepts the request."""
    if not policy.enabled:
        return None
    if policy.token is not None and token_ok(policy.token, req.headers.get("x-auth-token")):
        return None
    if policy.aksk is not None:
        return signature_problem(policy.aksk, req, now)
    return "missing or invalid X-Auth-Token"
