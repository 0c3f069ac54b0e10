"""HTTP/1.1 message heads for the upstream client: pure functions over bytes, no I/O.

The gateway talks to one kind of peer (DDM behind its load balancer) with one kind of request,
so this is deliberately small: serialize a request head, parse a response head, decide how the
response body is framed (RFC 9112 section 6.3), parse a chunk-size line. Anything the parser does not
accept is `MalformedResponse`, which the proxy answers as a clean 502.
"""
from __future__ import annotations

import re
from typing import Iterable, NamedTuple

Headers = tuple[tuple[str, str], ...]

MAX_HEAD_BYTES = 64 * 1024          # status line + all header lines
MAX_HEAD_LINE_BYTES = 8190          # one status or header line (aiohttp's own per-line limit)
MAX_HEADER_LINES = 100              # header lines in one response head (aiohttp clients read at most 128)
MAX_TRAILER_LINES = 32              # trailer lines after the last chunk
MAX_INTERIM_RESPONSES = 8           # 1xx heads before the final one
MAX_CHUNK_LINE_BYTES = 4096         # chunk size + extensions
NO_BODY_STATUSES = frozenset({204, 304})
_FRAMING_HEADERS = frozenset({"connection", "content-length", "transfer-encoding"})
# Control characters other than HTAB in the status line (header lines: _FIELD_LINE): RFC 9110
# 5.5 forbids them in fields, and aiohttp refuses to write them, which would drop the client's
# connection.
_FIELD_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
GET_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # no Content-Length: 0 without a body
# Header lines: a name that is a token (RFC 9110 5.1 / 5.6.2), a colon, a value without control
# characters other than HTAB. One regex over the whole block checks every line in one scan
# (obs-fold and `Name :` fail it too).
_FIELD_LINE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*"
_FIELD_BLOCK = re.compile(rf"(?:\r\n{_FIELD_LINE})*")
_ONE_FIELD = re.compile(_FIELD_LINE)
# The usual head in one scan: the status line (version, a status of 100-999, a reason without
# control characters) and the field block above, without splitting it into lines first. A head
# it does not match (or a long one) takes the line-by-line reading, which reads every head this
# matches the same way and says why it refuses the others.
_USUAL_HEAD = re.compile(r"(HTTP/1\.[01]) ([1-9][0-9]{2})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?"
                         rf"((?:\r\n{_FIELD_LINE})*)")
# One field line of a block that matched: its name and its value without the spaces and tabs
# around it (what `str.strip(" \t")` leaves).
_FIELD_PARTS = re.compile(r"\r\n([^:]+):[ \t]*((?:[^\r]*[^\r \t])?)[ \t]*")

# How a response body is delimited.
FRAMING_NONE = "none"
FRAMING_LENGTH = "length"
FRAMING_CHUNKED = "chunked"
FRAMING_CLOSE = "close"


class MalformedResponse(Exception):
    """The upstream's bytes are not an HTTP/1.x response this client accepts."""


class InvalidRequest(ValueError):
    """A header name or value that would break the request's framing (CR, LF)."""


class ResponseHead(NamedTuple):
    """One parsed response head (a NamedTuple: built once per proxied request, cheaply)."""

    status: int
    reason: str
    headers: Headers
    keep_alive: bool            # the peer allows another request on this connection
    framing: str                # FRAMING_*
    content_length: int | None  # for FRAMING_LENGTH (and FRAMING_NONE: the declared length, if any)


def request_head(method: str, target: str, headers: Headers) -> bytes:
    """`METHOD target HTTP/1.1` plus the header lines, ready to write. Refuses CR/LF anywhere
    (a value carrying them would smuggle a second request upstream)."""
    lines = [f"{method} {target} HTTP/1.1", *map(": ".join, headers)]   # each pair is `name: value`
    text = "\r\n".join(lines)
    separators = len(lines) - 1      # a CR or LF anywhere else makes one of these counts larger
    if text.count("\r") != separators or text.count("\n") != separators:
        raise InvalidRequest("CR or LF in the request line or a header")
    return (text + "\r\n\r\n").encode("utf-8", "surrogateescape")


def parse_response_head(raw: bytes, *, method: str) -> ResponseHead:
    """`raw` is one head without its final blank line (everything before b"\\r\\n\\r\\n").

    The usual head is checked and split by two regexes (`_USUAL_HEAD`, `_FIELD_PARTS`), any
    other line by line; the three headers that frame the message are picked up from the fields.
    Limits: MAX_HEAD_LINE_BYTES per line, MAX_HEADER_LINES lines (the caller bounds the whole)."""
    text = raw.decode("utf-8", "surrogateescape")
    usual = _USUAL_HEAD.fullmatch(text) if len(text) <= MAX_HEAD_LINE_BYTES else None
    if usual is not None and text.count("\r\n") <= MAX_HEADER_LINES:
        version, code, reason, block = usual.groups()
        status, headers = int(code), _FIELD_PARTS.findall(block)
    else:
        version, status, reason, headers = _checked_head(raw)
    framing_values: dict[str, list[str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in _FRAMING_HEADERS:
            framing_values.setdefault(lowered, []).append(value)
    connection = _tokens(framing_values["connection"]) if "connection" in framing_values else ()
    # HTTP/1.0 persistence (its Keep-Alive extension) is not trusted: such a reply ends its connection.
    keep_alive = version == "HTTP/1.1" and "close" not in connection
    framing, length = _framing(method, status, framing_values)
    # Both framings at once (RFC 9112 6.1): read by Transfer-Encoding, then never trust the connection again.
    ambiguous = "transfer-encoding" in framing_values and "content-length" in framing_values
    return ResponseHead(status, reason or "", tuple(headers),
                        keep_alive and framing != FRAMING_CLOSE and not ambiguous, framing, length)


def _checked_head(raw: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    """A head `_USUAL_HEAD` did not match, line by line: the same fields for a head this
    accepts after all (a long one), else MalformedResponse saying what is wrong."""
    text, lines = _lines(raw, MAX_HEADER_LINES + 1)
    if _FIELD_CONTROL.search(lines[0]):
        raise MalformedResponse("control character in the status line")
    version, status, reason = _status_line(lines[0])
    if not _FIELD_BLOCK.fullmatch(text, len(lines[0])):
        raise MalformedResponse("bad header line (name, colon, or a control character)")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip(" \t")))
    return version, status, reason, headers


def parse_trailer(line: bytes) -> tuple[str, str]:
    """One trailer line after the last chunk, validated like a header line. The proxy drops
    trailers; checking them keeps a confused peer from hiding another message there."""
    text, _ = _lines(line, 1)
    if not _ONE_FIELD.fullmatch(text):
        raise MalformedResponse("bad trailer line")
    name, _, value = text.partition(":")
    return name, value.strip(" \t")


def _lines(raw: bytes, max_lines: int) -> tuple[str, list[str]]:
    """The text and its CRLF-separated lines: no bare CR or LF, none longer than
    MAX_HEAD_LINE_BYTES, at most `max_lines` of them (control characters: the callers' regexes)."""
    text = raw.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    if text.count("\r") != len(lines) - 1 or text.count("\n") != len(lines) - 1:
        raise MalformedResponse("bare CR or LF in the response head")
    if len(lines) > max_lines:
        raise MalformedResponse("too many header lines")
    if len(text) > MAX_HEAD_LINE_BYTES and max(map(len, lines)) > MAX_HEAD_LINE_BYTES:
        raise MalformedResponse("header line too long")
    return text, lines


def parse_chunk_size(line: bytes) -> int:
    """The size of one chunk from its size line (extensions ignored)."""
    size = line.split(b";", 1)[0].rstrip(b" \t")   # chunk-size = 1*HEXDIG, then BWS
    if not size or len(size) > 16 or not all(c in b"0123456789abcdefABCDEF" for c in size):
        raise MalformedResponse("bad chunk size line")
    return int(size, 16)


def _status_line(line: str) -> tuple[str, int, str]:
    """`HTTP/1.x NNN reason`; a status below 100 is no HTTP status at all (RFC 9110 15)."""
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if (version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit() or not code.isascii()
            or code[0] == "0"):
        raise MalformedResponse(f"bad status line: {line[:80]!r}")
    return version, int(code), reason


def _tokens(values: Iterable[str]) -> list[str]:
    return [token.strip().lower() for value in values for token in value.split(",")]


def _framing(method: str, status: int, values: dict[str, list[str]]) -> tuple[str, int | None]:
    """RFC 9112 6.3: HEAD, 1xx, 204, 304 have no body; Transfer-Encoding wins over Content-Length;
    otherwise Content-Length; otherwise the body runs until the connection closes.

    The only transfer coding accepted is one `chunked`: the proxy removes Transfer-Encoding, so a
    stacked coding (gzip, chunked) would reach the client as bytes it has no way to decode."""
    length = _content_length(values.get("content-length"))
    chunked = "transfer-encoding" in values and _chunked(values["transfer-encoding"])
    if method == "HEAD" or status < 200 or status in NO_BODY_STATUSES:
        return FRAMING_NONE, length
    if chunked:
        return FRAMING_CHUNKED, None
    if length is not None:
        return FRAMING_LENGTH, length
    return FRAMING_CLOSE, None


def _chunked(values: list[str]) -> bool:
    if _tokens(values) != ["chunked"]:
        raise MalformedResponse("unsupported Transfer-Encoding")
    return True


def _content_length(values: list[str] | None) -> int | None:
    """The one declared length; repeats (as lines or a list) must agree (RFC 9110 8.6), digits only."""
    if not values:
        return None
    if len(values) == 1 and "," not in values[0]:
        first = values[0]                     # the usual case: one plain value
    else:
        lengths = {item.strip(" \t") for value in values for item in value.split(",")}
        first = lengths.pop() if len(lengths) == 1 else ""
    if not first.isdigit() or not first.isascii():
        raise MalformedResponse("bad or conflicting Content-Length")
    return int(first)
