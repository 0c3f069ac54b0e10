"""Structured JSON lines: one access-log line per request, one audit line per decision.

Both lines are built from the Principal, the route and the response status; no header, body,
token or secret is ever passed in, so nothing secret can reach a log by construction. The lines
are written off the request path by writer.py.

Formatted on the event loop, so cheaply: the keys are fixed, so each line is an f-string of
its keys with every string value quoted by the standard library's C JSON string encoder
(`encode_basestring_ascii`: the escapes and quotes `json.dumps` would write). Building a dict
and running the general encoder over it cost about twice the instructions per line. The audit
line is exactly `writer.ENCODER.encode` of the same record; the access line too, except that
`latency_ms` always has three decimals ("1.200" for 1.2); tests/test_logs_writer.py checks both
on arbitrary strings. ASCII only: a client-chosen path may carry U+2028, U+0085 or other
characters that many log readers take for line breaks; escaped, one record is one line.
"""
from __future__ import annotations

import json
import time
from math import floor
from json.encoder import encode_basestring_ascii as quote
from typing import Iterable

from ..principal import Principal

_EVENT_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str)
PRINCIPALS_CACHED = 4096   # distinct principals whose fragment is kept; then the cache starts over
FRAGMENTS_CACHED = 4096    # distinct access middles, and audit rests, kept; then each starts over
FRAGMENT_CACHED_CHARS = 1024   # a longer fragment (a long client-chosen path) is formatted, not kept
# ".000Z" ... ".999Z" and "000" ... "999": table lookups instead of a "%03d" per line (which costs
# more instructions than the rest of the timestamp).
_MILLIS = tuple(f".{i:03d}Z" for i in range(1000))
_THREE_DIGITS = tuple(f"{i:03d}" for i in range(1000))


def _utc_second(second: int) -> str:
    t = time.gmtime(second)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def _text(value: str | None) -> str:
    return "null" if value is None else quote(value)


def _text_or_texts(value: str | list[str] | None) -> str:
    """A string, a list of strings (a filtered list's enterprise projects) or null."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return quote(value)
    return "[" + ",".join(map(quote, value)) + "]"


def principal_json(principal: Principal | None) -> str:
    """The principal's fields as `,"key":value` pairs to splice into a line; "" without one."""
    if principal is None:
        return ""
    return (f',"user_id":{quote(principal.user_id)},"user_name":{quote(principal.user_name)},'
            f'"domain":{quote(principal.domain_name)},"auth_method":{quote(principal.auth_method)},'
            f'"access_key":{_text(principal.access_key)},"project_id":{_text(principal.project_id)}')


class LineFormat:
    """Formats the access and audit lines. Owns two small caches, for what repeats from line to
    line: the current second's timestamp text, and each principal's fragment (a Principal is an
    immutable NamedTuple, so it is its own key; a reload that renames a user makes a new one).

    The methods are written flat (conditional expressions, no helper calls per field): on the
    event loop, each Python call per field costs more than quoting the field."""

    def __init__(self) -> None:
        self._second_start = self._second_end = 0.0    # the current second: [start, end)
        self._second_text = ""
        self._principals: dict[Principal, str] = {}
        self._last: Principal | None = None
        self._last_text = ""
        self._rid: str | None = None
        self._rid_json = ""
        self._access_middles: dict[tuple[object, ...], str] = {}
        self._audit_rests: dict[tuple[object, ...], str] = {}

    def now_iso(self, now: float) -> str:
        """`2026-12-03T18:00:00.123Z` (UTC, milliseconds). The current second is kept as a float
        range: comparing floats is cheaper than making an int of every timestamp (the seconds
        since the epoch are not one of CPython's small ints). `floor`, not `int()`: the same for
        a time after 1970, without a call through the int type's constructor."""
        if not self._second_start <= now < self._second_end:
            self._new_second(now)
        return self._second_text + _MILLIS[floor((now - self._second_start) * 1000)]

    def _new_second(self, now: float) -> None:
        second = floor(now)
        self._second_start, self._second_end = float(second), second + 1.0
        self._second_text = _utc_second(second)

    def _head(self, request_id: str) -> str:
        """`{"time":...,"request_id":...` of an access or audit line: now_iso of the time now
        and the id's JSON, in one call (the two lines of a request share the id's JSON)."""
        now = time.time()
        if not self._second_start <= now < self._second_end:
            self._new_second(now)
        if request_id is not self._rid:      # a request's first line; inline, as every line passes here
            self._rid, self._rid_json = request_id, quote(request_id)
        return f'{{"time":"{self._second_text}{_MILLIS[floor((now - self._second_start) * 1000)]}","request_id":{self._rid_json}'

    def principal(self, principal: Principal | None) -> str:
        """The fragment of `principal`: the last one's by identity (a request's audit and access
        lines share their Principal object), else from the cache by value."""
        if principal is None:
            return ""
        if principal is self._last:
            return self._last_text
        text = self._principals.get(principal)
        if text is None:
            if len(self._principals) >= PRINCIPALS_CACHED:
                self._principals.clear()
            text = self._principals[principal] = principal_json(principal)
        self._last, self._last_text = principal, text
        return text

    def access(self, request_id: str, source_ip: str | None, method: str, path: str, principal: Principal | None,
               action: str, decision: str | None, enterprise_project: str | list[str] | None,
               ratelimit: str | None, would_reject: tuple[str, ...],
               upstream_status: int | None, status: int, size: int | None, latency_s: float) -> str:
        who = self._last_text if principal is self._last else self.principal(principal)
        key = (source_ip, method, path, who, action, decision,
               tuple(enterprise_project) if type(enterprise_project) is list else enterprise_project,
               ratelimit, would_reject, upstream_status, status)
        middle = self._access_middles.get(key)
        if middle is None:
            middle = _remember(self._access_middles, key, _access_middle(
                source_ip, method, path, who, action, decision, enterprise_project, ratelimit,
                would_reject, upstream_status, status))
        micros = floor(latency_s * 1_000_000)
        return (f'{self._head(request_id)}{middle},"bytes":{"null" if size is None else size},'
                f'"latency_ms":{micros // 1000}.{_THREE_DIGITS[micros % 1000]}}}')

    def audit(self, request_id: str, principal: Principal | None, action: str, resource: str | None,
              enterprise_project: str | None, allowed: bool, effect: str, denied_actions: Iterable[str],
              deciding: Iterable[tuple[str, int]]) -> str:
        who = self._last_text if principal is self._last else self.principal(principal)
        denied, statements = tuple(denied_actions), tuple(deciding)
        key = (who, action, resource, enterprise_project, allowed, effect, denied, statements)
        rest = self._audit_rests.get(key)
        if rest is None:
            rest = _remember(self._audit_rests, key, _audit_rest(
                who, action, resource, enterprise_project, allowed, effect, denied, statements))
        return self._head(request_id) + rest

    def event(self, request_id: str, principal: Principal | None, fields: dict[str, object]) -> str:
        """A rarer audit record (report-mode rules, report-only policies): the same head as
        every line (time, request id, principal), then `fields` by the general encoder."""
        head = f'{{"time":"{self.now_iso(time.time())}","request_id":{quote(request_id)}{self.principal(principal)}'
        return head + ("," + _EVENT_ENCODER.encode(fields)[1:] if fields else "}")


def _remember(cache: dict[tuple[object, ...], str], key: tuple[object, ...], text: str) -> str:
    """Keeps `text` for `key`; a full cache starts over (FRAGMENTS_CACHED), so a client that
    varies its paths costs the formatting it saves the others, never memory. A fragment longer
    than FRAGMENT_CACHED_CHARS is not kept: the key holds what the text quotes (the path above
    all), so this bounds each cache to a few MB even when an unauthenticated client sends
    maximal request lines."""
    if len(text) > FRAGMENT_CACHED_CHARS:
        return text
    if len(cache) >= FRAGMENTS_CACHED:
        cache.clear()
    cache[key] = text
    return text


def _access_middle(source_ip: str | None, method: str, path: str, who: str, action: str,
                   decision: str | None, enterprise_project: str | list[str] | None,
                   ratelimit: str | None, would_reject: tuple[str, ...],
                   upstream_status: int | None, status: int) -> str:
    """The access line from `source_ip` to `status`: what repeats from request to request."""
    return (f',"source_ip":{_text(source_ip)},"method":{quote(method)},"path":{quote(path)}{who},'
            f'"action":{quote(action)},"decision":{_text(decision)},'
            f'"enterprise_project":{_text_or_texts(enterprise_project)},"ratelimit":{_text(ratelimit)},'
            f'"ratelimit_would_reject":{_text_or_texts(list(would_reject)) if would_reject else "null"},'
            f'"upstream_status":{"null" if upstream_status is None else upstream_status},"status":{status}')


def _audit_rest(who: str, action: str, resource: str | None, enterprise_project: str | None,
                allowed: bool, effect: str, denied: tuple[str, ...],
                deciding: tuple[tuple[str, int], ...]) -> str:
    """The audit line after the request id: the same for every request of a caller, action and
    decision."""
    statements = ",".join([f'{{"policy":{quote(policy)},"statement":{index}}}' for policy, index in deciding])
    return (f'{who},"action":{quote(action)},"resource":{_text(resource)},'
            f'"enterprise_project":{_text(enterprise_project)},"decision":"{"allow" if allowed else "deny"}",'
            f'"effect":{quote(effect)},"denied_actions":[{",".join(map(quote, denied))}],'
            f'"deciding":[{statements}]}}')
