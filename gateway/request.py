"""One request as plain values: built once at the edge (gateway/http/), read by every phase.

Routing, authentication, authorization and the proxy all take a `RequestHead` instead of the
aiohttp request, so the target is split and the path canonicalized once (the same segments
serve the signature check, routing and policy). The headers are the parser's own
case-insensitive multidict, not a copy: a lookup needs no lowercasing, and the one lowercased
dict the signature check needs is built by authn, for AK/SK requests only (copying every
request's headers cost more than the rest of the head). The body is not in it: it is read
later, through the edge's one bounded reader (`RequestBody`), and only once the caller is
identified far enough.
"""
from __future__ import annotations

from typing import AsyncIterator, NamedTuple, Protocol
from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

Headers = tuple[tuple[str, str], ...]


class RequestHead(NamedTuple):
    """What the client sent before its body. `raw_path`/`raw_query`: the target exactly as sent
    (no decoding); `segments`: the decoded path segments after the leading '/' (signer's
    `path_segments`), or None with `path_error` saying why the path is not canonical;
    `headers`: every line as sent, looked up case-insensitively (`getall` for repeats)."""

    method: str
    raw_path: str
    raw_query: str
    segments: tuple[str, ...] | None
    path_error: str | None
    headers: CIMultiDictProxy[str]
    source_ip: str
    request_id: str
    scheme: str
    host: str

    def count(self, name: str) -> int:
        """How many lines carry header `name`."""
        return len(self.headers.getall(name, ()))


def query_of(head: RequestHead) -> MultiDictProxy[str]:
    """The decoded query parameters, parsed on demand (only the few routes that read them)."""
    return MultiDictProxy(MultiDict(parse_qsl(head.raw_query, keep_blank_values=True)))


class RequestBody(Protocol):
    """The client's body, as the edge exposes it: read whole through the bounded reader (size,
    time and the process-wide budget: 413, 408, 503), or streamed to the upstream as it comes."""

    @property
    def length(self) -> int | None: ...        # Content-Length, None when chunked

    async def read(self) -> bytes: ...

    def stream(self) -> AsyncIterator[bytes]: ...
