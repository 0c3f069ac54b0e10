"""What the proxy hands back: DDM's answer as a plain value, for the response phases and the relay.

The proxy never writes to the client. `forward` returns an UpstreamResponse whose body is either
bytes (read whole: small successes with a known length, and errors, read up to a cap, decoded
and scrubbed of the gateway's own credentials) or a stream of chunks the relay writes as they
come. Whoever received it calls `release` once done (the pool then keeps or closes the
connection); the relay does it after the last byte.
"""
from __future__ import annotations

from typing import AsyncIterator, Callable, NamedTuple

from .headers import Headers


class BodyBroken(Exception):
    """The upstream body broke off after a good head (timeout, drop, short or malformed body):
    the relay can only cut the client connection."""


def _nothing() -> None:
    """The release of an answer that holds no connection (read whole already)."""


def _unchanged(data: bytes) -> bytes:
    return data


class UpstreamResponse(NamedTuple):
    """DDM's answer. `headers`: as DDM sent them (minus any line echoing the gateway's
    credential); the relay drops hop-by-hop ones and adds the request id. `body` is the whole
    body, or None: then `chunks` (if any) streams it, `reframed` says the framing was chunked or
    close-delimited (a stale Content-Length must go), and `broken` says the body broke off before
    the first byte could be relayed. `scrub` redacts the gateway's own credentials in a body the
    gateway rewrites (normalize)."""

    status: int
    reason: str | None
    headers: Headers
    body: bytes | None = None
    chunks: AsyncIterator[bytes] | None = None
    reframed: bool = False
    broken: Exception | None = None
    release: Callable[[], None] = _nothing
    scrub: Callable[[bytes], bytes] = _unchanged

    def rewritten(self, *, body: bytes, headers: Headers, reason: str | None = None) -> UpstreamResponse:
        """The same answer (same connection to release) with a new whole body and headers."""
        return self._replace(body=body, headers=headers, reason=reason, chunks=None, reframed=False,
                             broken=None)
