"""The simulator application: route table, edge middleware, admin endpoints.

Middleware order (listed once, here): request log -> injected faults -> upstream auth -> route.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Awaitable, Callable

from aiohttp import web

from ddmsim.admin import CONTROL_KEY, SimControl, add_admin_routes, request_record
from ddmsim.auth import UpstreamAuth, auth_problem
from ddmsim.faults import FaultRule, take_fault
from ddmsim.routing import Runtime, load_routes, make_handler, not_found
from ddmsim.state import SimState
from signer import SignableRequest

RUNTIME_KEY = web.AppKey("ddmsim_runtime", Runtime)
AUTH_KEY = web.AppKey("ddmsim_auth", UpstreamAuth)
HandlerFn = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_admin(request: web.Request) -> bool:
    return request.path.startswith("/_sim/")


async def _apply_fault(request: web.Request, rule: FaultRule) -> web.StreamResponse | None:
    """Delay, then drop or answer with the canned status; None lets the request through."""
    if rule.delay_s:
        await asyncio.sleep(rule.delay_s)
    if rule.drop:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=499)
    if rule.status is not None:
        return web.Response(status=rule.status, body=rule.body.encode(),
                            headers={"Content-Type": rule.content_type})
    return None


@web.middleware
async def edge(request: web.Request, handler: HandlerFn) -> web.StreamResponse:
    """Log, maybe fault, check upstream auth, then route. Injected faults go out verbatim;
    every other answer carries an X-Request-Id, as DDM's do."""
    if _is_admin(request):
        return await handler(request)
    app, body = request.app, await request.read()
    now = app[RUNTIME_KEY].clock()
    control = app[CONTROL_KEY]
    control.requests.append(request_record(request, body, now))
    rule, control.faults[:] = take_fault(list(control.faults), request.method, request.path)
    if rule is not None and (faulted := await _apply_fault(request, rule)) is not None:
        return faulted
    if request.path != "/":
        signable = SignableRequest(request.method, request.raw_path.split("?", 1)[0],
                                   request.rel_url.raw_query_string,
                                   {k.lower(): v for k, v in request.headers.items()}, body)
        problem = auth_problem(app[AUTH_KEY], signable, now)
        if problem is not None:
            return _with_request_id(web.json_response({"error_code": "APIGW.0301", "error_msg": problem},
                                                      status=401))
    return _with_request_id(await handler(request))


def _with_request_id(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.setdefault("X-Request-Id", uuid.uuid4().hex)
    return response


def create_app(*, job_seconds: float = 2.0, require_aksk: tuple[str, str] | None = None,
               require_token: str | None = None, clock: Callable[[], float] | None = None) -> web.Application:
    """A fresh simulator with empty state; ``clock`` (epoch seconds) drives job progress."""
    app = web.Application(middlewares=[edge], client_max_size=16 * 1024 * 1024)
    app[RUNTIME_KEY] = Runtime(state=SimState(), clock=clock or time.time, job_seconds=job_seconds)
    app[AUTH_KEY] = UpstreamAuth(aksk=require_aksk, token=require_token)
    app[CONTROL_KEY] = SimControl()
    add_admin_routes(app)
    runtime = app[RUNTIME_KEY]
    for route in load_routes():
        app.router.add_route(route.method, route.path, make_handler(route, runtime))
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


async def run_sim(host: str, port: int, *, job_seconds: float, require_aksk: tuple[str, str] | None,
                  require_token: str | None) -> None:
    """Serve the simulator on host:port until cancelled (the ``ddm-gateway sim`` command)."""
    runner = web.AppRunner(create_app(job_seconds=job_seconds, require_aksk=require_aksk,
                                      require_token=require_token))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
