"""Structured JSON lines: one access-log line per request, one audit line per decision.

Both logs take plain dicts built from the Principal and the route; no header, body, token
or secret is ever passed in, so nothing secret can reach a log by construction. The lines are
written off the request path by writer.py.
"""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Any


def utc_now_iso(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return _utc_second(int(now // 1)) + f".{int(now % 1 * 1000):03d}Z"


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """The seconds part changes once a second: formatted once, not per log line."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def principal_fields(principal: Any) -> dict[str, Any]:
    if principal is None:
        return {}
    return {"user_id": principal.user_id, "user_name": principal.user_name,
            "domain": principal.domain_name, "auth_method": principal.auth_method,
            "access_key": principal.access_key, "project_id": principal.project_id}
