"""The route table (``data/routes.yaml``) turned into aiohttp handlers.

Each route's handler is a plain function; this module is the edge that reads the request,
validates it against the route's declared specs, settles due jobs, calls the handler and
renders success or the route's documented error shape.
"""
from __future__ import annotations

import functools
import importlib
import json
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Awaitable, Callable, Mapping

import yaml
from aiohttp import web

from ddmsim.context import Ctx
from ddmsim.errors import ErrorStyle, SimError, error_body, fail
from ddmsim.jobs import settle
from ddmsim.state import SimState
from ddmsim.validation import check_fields, check_query

log = logging.getLogger("ddmsim")
PROJECT_ID = re.compile(r"[0-9a-fA-F]{32}")
Handler = Callable[[Ctx], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    op: str
    section: str
    method: str
    path: str
    handler: str
    errors: ErrorStyle
    status: int
    query: Mapping[str, Any]
    body: Mapping[str, Any] | None

    def function(self) -> Handler:
        module, name = self.handler.rsplit(".", 1)
        return getattr(importlib.import_module(f"ddmsim.handlers.{module}"), name)


@functools.lru_cache(maxsize=1)
def load_routes() -> tuple[Route, ...]:
    """The 52 documented operations, in reference order."""
    text = resources.files("ddmsim").joinpath("data/routes.yaml").read_text("utf-8")
    return tuple(Route(op=r["op"], section=str(r.get("section") or ""), method=r["method"], path=r["path"],
                       handler=r["handler"], errors=r["errors"], status=r["status"],
                       query=r.get("query") or {}, body=r.get("body"))
                 for r in yaml.safe_load(text)["routes"])


async def _json_body(request: web.Request) -> Any:
    """The body as JSON; an empty body counts as ``{}`` so required-field checks report it."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise fail("parameter_error") from None


def error_response(style: ErrorStyle, error: SimError) -> web.Response:
    return web.json_response(error_body(style, error.code, error.message), status=error.status)


@dataclass(frozen=True)
class Runtime:
    """What every route handler needs from the app: state, clock, job pace."""

    state: SimState
    clock: Callable[[], float]
    job_seconds: float


async def _context(route: Route, request: web.Request, runtime: Runtime) -> Ctx:
    project_id = request.match_info.get("project_id", "")
    if "{project_id}" in route.path and not PROJECT_ID.fullmatch(project_id):
        raise fail("parameter_error")
    query = check_query(route.query, request.query)
    body = check_fields(route.body, await _json_body(request)) if route.body is not None else {}
    now = runtime.clock()
    if project_id:
        settle(runtime.state.project(project_id), now)
    return Ctx(state=runtime.state, project_id=project_id, path=dict(request.match_info),
               query=query, body=body, now=now, job_seconds=runtime.job_seconds)


def make_handler(route: Route, runtime: Runtime) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for one documented operation."""
    function = route.function()

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            ctx = await _context(route, request, runtime)
            return web.json_response(function(ctx), status=route.status)
        except SimError as error:
            return error_response(route.errors, error)
        except Exception:   # the one place a bug becomes DDM's documented 500, not a traceback
            log.exception("simulator handler %s failed", route.op)
            return error_response(route.errors, fail("server_failure"))

    return handle


async def not_found(request: web.Request) -> web.Response:
    """Routes the reference does not document answer 404 in DDM's v1 error shape."""
    return error_response("v1", fail("route_not_found"))
