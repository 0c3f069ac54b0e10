"""The canonical request, built from the wire exactly as huaweicloudsdkcore's Signer builds it.

One canonicalization serves signing, verifying, routing and policy resources, so a request can
never be one thing to the router and another to the signature check.
"""
from __future__ import annotations

import functools
import re
from typing import Callable, Mapping, Sequence, TypeVar
from urllib.parse import quote, unquote_to_bytes

from signer.algorithms import UNSIGNED_PAYLOAD, AlgorithmSpec, spec_for
from signer.errors import PathError, QueryError
from signer.request import SignableRequest

_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what the SDK's quote(safe='~') keeps literally
_RAW_TARGET = re.compile(r"[!-~]*")  # printable ASCII: anything else on the wire is malformed
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
JSON_LIKE_TYPES = ("application/json", "application/bson")  # the SDK never sends these unsigned
# Canonical forms are pure functions of the raw path / query, and a client repeats its paths and
# queries: memoized (bounded LRU; errors are never cached, they raise again). Only inputs up to
# MEMO_MAX_INPUT characters are kept: DDM targets are far shorter, and a client sending 8 KB
# targets must not make the memo hold hundreds of megabytes.
MEMO_ENTRIES = 4096
MEMO_MAX_INPUT = 512
T = TypeVar("T")


def _memoized(function: Callable[[str], T]) -> Callable[[str], T]:
    cached = functools.lru_cache(maxsize=MEMO_ENTRIES)(function)

    @functools.wraps(function)
    def call(raw: str) -> T:
        return cached(raw) if len(raw) <= MEMO_MAX_INPUT else function(raw)
    return call


def _encode(text: str) -> str:
    """The SDK's `quote(s, safe='~')`, skipped when there is nothing to encode (the hot path)."""
    return text if _UNRESERVED.fullmatch(text) else quote(text, safe="~")


def _decode(raw: str, error: type[PathError]) -> str:
    """Strict percent-decoding: malformed escapes and invalid UTF-8 are errors, not U+FFFD.

    The SDK's lenient `unquote` would map distinct byte strings to the same text, letting two
    different requests share one signature.
    """
    if "%" not in raw:
        return raw
    if _BAD_ESCAPE.search(raw):
        raise error(f"malformed percent-encoding in {raw!r}")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"invalid UTF-8 in {raw!r}") from None


def _check_raw(raw: str, error: type[PathError]) -> None:
    if not _RAW_TARGET.fullmatch(raw):
        raise error("request target contains whitespace, control or non-ASCII characters")


@_memoized
def path_segments(raw_path: str) -> tuple[str, ...]:
    """THE one path canonicalization: the decoded segments after the leading '/'.

    `/v1/p/instances` -> ('v1', 'p', 'instances'); a trailing '/' yields a final '' segment.
    Raises PathError for a missing leading '/', malformed escapes, invalid UTF-8, an encoded
    '/' (which the SDK would turn into a separator) or control characters.
    """
    if not raw_path.startswith("/"):
        raise PathError("path must start with '/'")
    _check_raw(raw_path, PathError)
    segments = []
    for raw in raw_path[1:].split("/"):
        if "%" in raw and ("%2F" in raw or "%2f" in raw):
            raise PathError("encoded '/' (%2F) in a path segment")
        segment = _decode(raw, PathError)
        if _CONTROL.search(segment):
            raise PathError("control character in a path segment")
        segments.append(segment)
    return tuple(segments)


@_memoized
def canonical_uri(raw_path: str) -> str:
    """Segments re-encoded with only unreserved characters literal, joined, '/' appended."""
    uri = "/" + "/".join(_encode(segment) for segment in path_segments(raw_path))
    return uri if uri.endswith("/") else uri + "/"


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """(decoded key, canonical 'k=v') for each non-empty '&' part, in wire order."""
    _check_raw(raw_query, QueryError)
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition("=")
        key = _decode(raw_key, QueryError)
        value = _decode(raw_value, QueryError)
        pairs.append((key, f"{_encode(key)}={_encode(value)}"))
    return pairs


@_memoized
def canonical_query(raw_query: str) -> str:
    """Parameters re-encoded and sorted by key, keeping the WIRE order among equal keys.

    The SDK sorts (key, value) tuples with values in their native type, so repeated integer
    keys arrive as `n=9&n=10`; a string sort would break their signature. The SDK also sends
    its canonical string as the query, so a stable sort by decoded key reproduces it exactly.
    A '+' is a literal plus (the SDK never sends one unencoded); a part without '=' is 'k='.
    """
    if not raw_query:
        return ""
    pairs = _query_pairs(raw_query)
    pairs.sort(key=lambda pair: pair[0])
    return "&".join(encoded for _, encoded in pairs)


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """`name:trimmed value\\n` per signed header, in SignedHeaders order (KeyError if missing)."""
    return "".join([f"{name}:{headers[name].strip()}\n" for name in signed_headers])   # a list joins faster


def canonical_request(req: SignableRequest, signed_headers: Sequence[str], payload_hash: str) -> str:
    """Method, URI, query, headers (ending in a blank line), SignedHeaders, payload hash."""
    return "\n".join((
        req.method.upper(),
        canonical_uri(req.raw_path),
        canonical_query(req.raw_query),
        canonical_headers(req.headers, signed_headers),
        ";".join(signed_headers),
        payload_hash,
    ))


def is_json_like(content_type: str | None) -> bool:
    """The SDK's test for 'do not use UNSIGNED-PAYLOAD' (case-sensitive prefix, like the SDK)."""
    return content_type is not None and content_type.startswith(JSON_LIKE_TYPES)


def declared_payload_hash(req: SignableRequest, spec: AlgorithmSpec) -> str | None:
    """The content header's value when it is set and non-empty (the SDK ignores an empty one)."""
    return req.headers.get(spec.content_header_key) or None


def payload_hash_for(req: SignableRequest, spec: AlgorithmSpec) -> str:
    """As the SDK: empty-body hash for no body, else the declared content header, else hash."""
    if not req.body:
        return spec.empty_hash
    return declared_payload_hash(req, spec) or spec.hash_hex(req.body)


def other_payload_lines(req: SignableRequest, spec: AlgorithmSpec) -> tuple[str, ...]:
    """Payload lines other official SDKs may have signed where Python signs `payload_hash_for`.

    Only an empty body that declares UNSIGNED-PAYLOAD has one: Python checks for the empty body
    first and signs the empty-body hash, while the Node.js and Go SDKs sign the declared literal
    whenever the header is there. With no body there is nothing to swap, so accepting both
    weakens nothing; every other request has none.
    """
    if not req.body and declared_payload_hash(req, spec) == UNSIGNED_PAYLOAD:
        return (UNSIGNED_PAYLOAD,)
    return ()


def payload_hash(req: SignableRequest, algorithm: str) -> str:
    """The payload line of the canonical request for `algorithm` (ValueError if unsupported)."""
    return payload_hash_for(req, spec_for(algorithm))
