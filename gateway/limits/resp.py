"""RESP2, the Redis wire format: encoding commands and parsing replies, as pure functions.

The store speaks to Redis through its own small channel (`channel.py`) instead of redis-py's
connection stack: a pipelined EVALSHA costs half the CPU that way (bench/RESULTS.md, fifth pass).
Error replies are values (`RespError`), not exceptions, so one bad reply in a pipelined batch
stays with the call it belongs to.
"""
from __future__ import annotations

from typing import Any, Sequence

Word = str | bytes | int | float


class RespError(Exception):
    """An error reply (`-NOSCRIPT No matching script`): returned in place, like any reply."""

    @property
    def kind(self) -> str:
        return str(self).split(" ", 1)[0]


class ProtocolError(ValueError):
    """Bytes that are not RESP: the connection can no longer be trusted and is closed."""


def encode_command(words: Sequence[Word]) -> bytes:
    """One command as a RESP array of bulk strings (what every Redis client sends)."""
    return b"*%d\r\n" % len(words) + encode_bulk_strings(words)


def encode_bulk_strings(words: Sequence[Word]) -> bytes:
    """Each word as a bulk string. ASCII text (every key and argument the store sends) is
    formatted as one str and encoded once; anything else is encoded word by word."""
    parts = []
    for word in words:
        text = word if type(word) is str else None if isinstance(word, bytes) else str(word)
        if text is None or not text.isascii():
            return _bulk_bytes(words)
        parts.append(f"${len(text)}\r\n{text}\r\n")
    return "".join(parts).encode("ascii")


def _bulk_bytes(words: Sequence[Word]) -> bytes:
    parts = []
    for word in words:
        data = word if isinstance(word, bytes) else str(word).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def parse_reply(buf: bytes, pos: int = 0) -> tuple[Any, int] | None:
    """The reply starting at `buf[pos]` and the offset after it, or None if more bytes are needed.

    Simple strings and bulk strings come back as bytes, integers as int, nil as None, arrays
    as lists, errors as `RespError`. Anything else raises `ProtocolError`."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, line = buf[pos:pos + 1], buf[pos + 1:end]
    after = end + 2
    if kind == b"$":
        size = _integer(line)
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            return None
        return buf[after:after + size], after + size + 2
    if kind == b"+":
        return line, after
    if kind == b":":
        return _integer(line), after
    if kind == b"-":
        return RespError(line.decode("utf-8", "replace")), after
    if kind == b"*":
        return _array(buf, _integer(line), after)
    raise ProtocolError(f"unexpected reply type {kind!r}")


def _array(buf: bytes, count: int, pos: int) -> tuple[Any, int] | None:
    if count < 0:
        return None, pos
    items = []
    for _ in range(count):
        parsed = parse_reply(buf, pos)
        if parsed is None:
            return None
        item, pos = parsed
        items.append(item)
    return items, pos


def _integer(line: bytes) -> int:
    try:
        return int(line)
    except ValueError:
        raise ProtocolError(f"not an integer: {line[:20]!r}") from None
