"""Response phase: every DDM error answer in the one documented shape (v1/v2 errCode and
externalMessage, v3 error_code and error_msg), with the gateway's request id.

A pure function over the proxy's UpstreamResponse: the error body was read (capped), decoded
and scrubbed by the proxy; here it is rewritten, and scrubbed once more, since a message that
spelled the gateway's secret with JSON escapes only shows it after decoding. Successes pass
untouched.
"""
from __future__ import annotations

from ..errors import JSON_CONTENT_TYPE
from ..proxy.answer import UpstreamResponse
from ..proxy.headers import value_of
from ..proxy.normalize import normalize_error

# Upstream error-response headers still meaningful after the body is rewritten.
KEPT_ERROR_HEADERS: tuple[str, ...] = ("Retry-After", "WWW-Authenticate")


def normalize_errors(answer: UpstreamResponse, request_id: str, *, legacy: bool) -> UpstreamResponse:
    """`answer` itself when it is not an error, else the same answer with the normalized body."""
    if answer.status < 400:
        return answer
    upstream_headers = answer.headers
    body = normalize_error(answer.status, value_of(upstream_headers, "Content-Type"), answer.body or b"",
                           request_id=request_id, legacy=legacy)
    headers = [("Content-Type", JSON_CONTENT_TYPE)]
    for name in KEPT_ERROR_HEADERS:
        value = value_of(upstream_headers, name)
        if value is not None:
            headers.append((name, value))
    return answer.rewritten(body=answer.scrub(body), headers=tuple(headers))
