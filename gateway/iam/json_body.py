"""JSON request bodies of the IAM routes: read through the bounded reader, nesting bounded.

Python's json module recurses once per nesting level, so 64 KB of `[` is a RecursionError (a
500 and a traceback) rather than a 400. The depth is measured first, over the brackets outside
string literals, without recursion; IAM documents nest four or five levels, so 32 is generous.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ..errors import IamError

MAX_IAM_BODY = 64 * 1024
MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting_depth(raw: bytes, *, stop_above: int = MAX_DEPTH) -> int:
    """The deepest bracket nesting outside strings (at most `stop_above` + 1: it stops there)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def parse_object(raw: bytes) -> dict[str, Any]:
    """A JSON object, or IamError 400 (malformed, too deep, not an object)."""
    if nesting_depth(raw) > MAX_DEPTH:
        raise IamError(400, "IAM.0011", f"Request body nests deeper than {MAX_DEPTH} levels.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise IamError(400, "IAM.0011", "Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise IamError(400, "IAM.0011", "Request body must be a JSON object.")
    return data
