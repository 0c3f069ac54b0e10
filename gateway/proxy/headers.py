"""Which headers cross the proxy, both ways. Pure functions over (name, value) pairs.

Hop-by-hop headers describe one TCP connection and must not be forwarded (RFC 9110 7.6.1);
client credentials authenticate the client to the gateway, not the gateway to DDM, so they
stop here unless the upstream auth mode is `passthrough`.
"""
from __future__ import annotations

from typing import Collection, Iterable

Headers = tuple[tuple[str, str], ...]

HOP_BY_HOP: frozenset[str] = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})
CLIENT_CREDENTIALS: frozenset[str] = frozenset({
    "authorization", "x-auth-token", "x-security-token", "x-sdk-date", "x-sdk-content-sha256",
    "x-sdk-content-sm3",
})
# Set by the proxy itself from what it knows; a client's own values would be spoofable.
SET_BY_PROXY: frozenset[str] = frozenset({
    "host", "content-length", "expect", "x-request-id", "forwarded",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
})
# Client-sent claims about the client or the request that no hop of ours vouches for: other
# proxies' spellings of the source address and scheme, and method overrides (the gateway
# authorized the request line's method, not the one a header names). Dropped, not refused.
NOT_FORWARDED: frozenset[str] = frozenset({
    "x-real-ip", "true-client-ip", "x-client-ip", "x-cluster-client-ip", "cf-connecting-ip",
    "fastly-client-ip", "x-originating-ip", "x-remote-ip", "x-remote-addr", "x-forwarded",
    "forwarded-for", "x-forwarded-server", "x-forwarded-port", "x-forwarded-prefix",
    "x-forwarded-scheme", "x-forwarded-ssl", "x-url-scheme", "x-original-url", "x-rewrite-url",
    "x-original-host", "x-host", "x-http-method-override", "x-http-method", "x-method-override",
})
# Answered by the gateway (the id is the gateway's).
RESPONSE_SET_BY_PROXY: frozenset[str] = frozenset({"x-request-id"})
# Precomputed per direction and mode: the hot path only adds a rare `Connection` token list.
_DROP_WITH_CREDENTIALS = HOP_BY_HOP | SET_BY_PROXY | NOT_FORWARDED | CLIENT_CREDENTIALS
_DROP_KEEPING_CREDENTIALS = HOP_BY_HOP | SET_BY_PROXY | NOT_FORWARDED
_DROP_FROM_RESPONSE = HOP_BY_HOP | RESPONSE_SET_BY_PROXY
_DROP_FROM_BUFFERED_RESPONSE = _DROP_FROM_RESPONSE | {"content-length"}  # the server recomputes it


def connection_tokens(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Header names listed in `Connection`: hop-by-hop for this one message too."""
    return frozenset(
        token.strip().lower()
        for name, value in headers if name.lower() == "connection"
        for token in value.split(",") if token.strip()
    )


def request_headers(incoming: Collection[tuple[str, str]], *, keep_credentials: bool,
                    upstream_host: str, request_id: str, client_ip: str, proto: str,
                    original_host: str, content_length: int | None) -> Headers:
    """The header set sent upstream: the client's, cleaned, plus the proxy's own.

    `content_length` is the length of the body that will be sent (None: streamed, chunked).
    """
    own: list[tuple[str, str]] = [("Host", upstream_host)]
    if content_length is not None:
        own.append(("Content-Length", str(content_length)))
    own += [("X-Request-Id", request_id), ("X-Forwarded-For", client_ip),
            ("X-Forwarded-Proto", proto), ("X-Forwarded-Host", original_host)]
    return tuple(_kept(incoming, _DROP_KEEPING_CREDENTIALS if keep_credentials else _DROP_WITH_CREDENTIALS,
                       own))


def response_headers(upstream: Collection[tuple[str, str]], *, request_id: str, drop_length: bool = False,
                     extra: Iterable[tuple[str, str]] = ()) -> Headers:
    """The upstream's response headers minus hop-by-hop ones, with the gateway's request id and
    then `extra`. `drop_length`: the body is re-sent whole, and the server sets Content-Length
    from it."""
    kept = _kept(upstream, _DROP_FROM_BUFFERED_RESPONSE if drop_length else _DROP_FROM_RESPONSE, [])
    kept.append(("X-Request-Id", request_id))
    kept += extra
    return tuple(kept)


def _kept(pairs: Collection[tuple[str, str]], dropped: frozenset[str],
          into: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`into` extended by `pairs` minus the names in `dropped` and those a `Connection` header
    lists. One pass, each name lowercased once: a Connection header (rare) is seen when its own
    line is dropped (every `dropped` set holds `connection`, being hop-by-hop), and only then are
    the pairs filtered again with the names it lists."""
    start = len(into)
    for pair in pairs:
        name = pair[0].lower()
        if name not in dropped:
            into.append(pair)
        elif name == "connection":
            listed = dropped | connection_tokens(pairs)
            del into[start:]
            into += [line for line in pairs if line[0].lower() not in listed]
            break
    return into


def without_reflections(headers: Headers, secrets: tuple[str, ...]) -> tuple[Headers, frozenset[str]]:
    """`headers` minus the lines whose value contains one of `secrets` (the gateway's own
    upstream token or signature that DDM, or something in front of it, echoed back), and the
    lowercased names of the lines dropped (other lines of the same name stay)."""
    joined = "\n".join([value for _, value in headers])    # one search in the common case: none
    if not any(secret in joined for secret in secrets):
        return headers, frozenset()
    kept = tuple(pair for pair in headers if not any(secret in pair[1] for secret in secrets))
    dropped = frozenset(name.lower() for name, value in headers if (name, value) not in kept)
    return kept, dropped


def merge_duplicates(headers: Headers) -> Headers:
    """One line per name (values comma-joined, RFC 9110 5.3), first spelling and order kept.

    The signer sees a mapping; sending exactly what was signed needs one value per name.
    """
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers:
        merged.setdefault(name.lower(), (name, []))[1].append(value)
    return tuple((name, ", ".join(values)) for name, values in merged.values())


def without(headers: Headers, names: frozenset[str]) -> Headers:
    return tuple((name, value) for name, value in headers if name.lower() not in names)


def value_of(headers: Headers, name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)
