"""One request as plain values: built once at the edge (gateway/http/), read by every phase.

Routing, authentication, authorization and the proxy all take a `RequestHead` instead of the
aiohttp request, so the target is split, the path canonicalized and the headers lowercased once
(the same canonicalization serves the signature check, routing and policy). The body is not in
it: it is read later, through the edge's one bounded reader (`RequestBody`), and only once the
caller is identified far enough.
"""
from __future__ import annotations

from typing import AsyncIterator, Mapping, NamedTuple, Protocol
from urllib.parse import parse_qsl

from multidict import MultiDict, MultiDictProxy

Headers = tuple[tuple[str, str], ...]


class RequestHead(NamedTuple):
    """What the client sent before its body. `raw_path`/`raw_query`: the target exactly as sent
    (no decoding); `segments`: the decoded path segments after the leading '/' (signer's
    `path_segments`), or None with `path_error` saying why the path is not canonical;
    `headers`: lowercased names, the last line of a repeated one; `header_lines`: every line
    as sent (for the proxy, and to find repeats when `repeated`)."""

    method: str
    raw_path: str
    raw_query: str
    segments: tuple[str, ...] | None
    path_error: str | None
    headers: Mapping[str, str]
    header_lines: Headers
    repeated: bool            # some header name appears on more than one line
    source_ip: str
    request_id: str
    scheme: str
    host: str

    def count(self, name: str) -> int:
        """How many lines carry header `name` (lowercase)."""
        if not self.repeated:
            return 1 if name in self.headers else 0
        return sum(1 for line, _ in self.header_lines if line.lower() == name)


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
