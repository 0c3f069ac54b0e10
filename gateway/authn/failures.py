"""How authentication fails: one `AuthFailure` (401) whose `reason` is its metric label.

Huawei's reason texts follow PREFIX; metrics and logs take `reason` as it is, never the text.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import CATALOGUE, GatewayError

PREFIX = "Incorrect IAM authentication information: "
LOCKED = "AK access failed to reach the limit,forbidden."

# The `reason` labels of ddmgw_auth_failures_total.
AUTH_FAILURE_REASONS = frozenset({
    "unknown_access_key", "bad_signature", "date_out_of_window", "locked_access_key",
    "bad_security_token", "missing_credentials", "expired_token", "bad_token", "unknown_user",
    "duplicate_header", "replayed_signature", "bad_password", "other",
})


@dataclass
class AuthFailure(GatewayError):
    """A 401: the caller could not be identified. `reason` is its metric label."""

    reason: str = "other"


def unauthorized(message: str, *, reason: str) -> AuthFailure:
    """401 APIGW.0301 with Huawei's wording after PREFIX; `reason` one of AUTH_FAILURE_REASONS."""
    status, code, _ = CATALOGUE["unauthorized"]
    return AuthFailure(status, code, PREFIX + message, reason=reason)


def token_expired() -> AuthFailure:
    """401 APIGW.0307: a token that was good and merely expired (the SDK then gets a new one)."""
    status, code, message = CATALOGUE["token_expired"]
    return AuthFailure(status, code, message, reason="expired_token")


def locked() -> AuthFailure:
    """An AK (or a user's temporary AKs) locked after too many bad signatures."""
    return unauthorized(LOCKED, reason="locked_access_key")
