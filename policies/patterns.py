"""Glob patterns of the IAM policy language, compiled to anchored regular expressions.

Every character of a pattern is literal except the documented wildcards, so `.`, `+`, `(` and
friends in a policy can never widen what it grants (the pattern is escaped before it becomes a
regex). Actions and resource URNs are matched segment by segment: `*` never crosses a `:`.
"""
from __future__ import annotations

import re
from typing import Pattern

ACTION_SEGMENTS = 3
URN_SEGMENTS = 5
_WITHIN_SEGMENT = "[^:]*"


def glob_regex(pattern: str, *, star: str = ".*", question: bool = False,
               ignore_case: bool = False) -> Pattern[str]:
    """Anchored regex for a glob: `*` -> `star`, `?` -> one character when `question`."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(star)
        elif char == "?" and question:
            parts.append(".")
        else:
            parts.append(re.escape(char))
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.compile("".join(parts) + r"\Z", flags)


def action_regex(patterns: tuple[str, ...]) -> Pattern[str]:
    """One regex matching any of the action patterns (matched against a lowercased action).

    Service names are lowercase by definition and resource type / operation are
    case-insensitive, so lowercasing both sides once is exact and keeps matching cheap.
    """
    alternatives = [glob_regex(p.lower(), star=_WITHIN_SEGMENT).pattern for p in patterns]
    return re.compile("(?:" + "|".join(alternatives) + ")", re.DOTALL)


def resource_regex(pattern: str) -> Pattern[str]:
    """Regex for a URN pattern `service:region:account:type:path`.

    Service and type compare case-insensitively (the reference writes `DDM:*:*:instance:*`);
    region, account and path are case-sensitive. An empty region or account segment means any
    (IAM's temporary-credential docs write `obs:::bucket:*`). `*` stays inside a segment, except
    in the last one (the resource path may contain `/`).
    """
    service, region, account, rtype, path = pattern.split(":", URN_SEGMENTS - 1)
    pieces = [
        _case_free(glob_regex(service, star=_WITHIN_SEGMENT).pattern[:-2]),
        glob_regex(region or "*", star=_WITHIN_SEGMENT).pattern[:-2],
        glob_regex(account or "*", star=_WITHIN_SEGMENT).pattern[:-2],
        _case_free(glob_regex(rtype, star=_WITHIN_SEGMENT).pattern[:-2]),
        glob_regex(path, star=".*").pattern,
    ]
    return re.compile(":".join(pieces), re.DOTALL)


def _case_free(regex: str) -> str:
    """A regex fragment matched case-insensitively (scoped inline flag)."""
    return "(?i:" + regex + ")"
