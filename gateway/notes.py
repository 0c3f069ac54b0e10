"""What the pipeline learned about one request, for the stages after it and the access log.

One typed object under one RequestKey instead of loose string keys on the request. Below both
the pipeline and observability (which reads it for the access log), so neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class RequestNotes:
    request_id: str
    route: Any = None              # policies.RouteMatch once routed
    source_ip: str | None = None
    principal: Any = None          # gateway.principal.Principal once authenticated
    ratelimit_outcome: str | None = None   # allowed | rejected
    ratelimit_would_reject: tuple[str, ...] = ()   # report-mode rules that had no room
    decision_effect: str | None = None     # allow | owner | deny ...
    enterprise_project: str | list[str] | None = None   # decided in; a filtered list: those shown
    upstream_status: int | None = None


NOTES = web.RequestKey("notes", RequestNotes)


def notes_of(request: web.Request) -> RequestNotes:
    notes = request.get(NOTES)
    if notes is None:   # only when a handler runs without the request-id stage (unit tests)
        notes = request[NOTES] = RequestNotes(request_id="")
    return notes
