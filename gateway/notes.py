"""What the pipeline learned about one request, for the stages after it and the access log.

One typed object (the edge keeps it under one RequestKey, http/request_id.py) instead of loose
string keys on the request. Below both the pipeline and observability (which reads it for the
access log), so neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass

from policies import RouteMatch

from .principal import Principal


@dataclass
class RequestNotes:
    request_id: str
    route: RouteMatch | None = None          # once routed
    source_ip: str | None = None
    path: str | None = None                  # the target's path as sent (no query), once parsed
    principal: Principal | None = None       # once authenticated
    ratelimit_outcome: str | None = None   # allowed | rejected
    ratelimit_would_reject: tuple[str, ...] = ()   # report-mode rules that had no room
    decision_effect: str | None = None     # allow | owner | deny ...
    enterprise_project: str | list[str] | None = None   # decided in; a filtered list: those shown
    upstream_status: int | None = None
