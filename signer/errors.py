"""Errors raised by the signer package.

Kept apart so the gateway can map them to responses in one place: a `SignatureError` becomes a
401 (`APIGW.0301`), a `PathError` a 400 (`APIGW.0201`). Neither ever carries a secret.
"""
from __future__ import annotations


class SignatureError(Exception):
    """The request's AK/SK signature is missing, malformed, stale or wrong.

    `reason` mirrors Huawei APIG's wording and is safe to show the client in a 401 body; `kind`
    says which failure it is for metrics and logs (BAD_SIGNATURE, DATE_OUT_OF_WINDOW), so that
    nobody has to match the wording.
    """

    def __init__(self, reason: str, kind: str = "bad_signature") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class PathError(ValueError):
    """The request target cannot be canonicalized (bad %-escape, invalid UTF-8, encoded '/', ...).

    Rejecting these up front keeps routing, policy resources and the signature on the same view
    of the path: `%2F` would otherwise be one segment to a router but a separator to the SDK.
    """


class QueryError(PathError):
    """The query string cannot be canonicalized (same causes as `PathError`, in the query)."""
