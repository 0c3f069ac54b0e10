"""The DDM request pipeline, top to bottom:

    request id (handler wrapper) -> route -> authenticate -> rate-limit -> place -> authorize
    -> proxy -> normalize -> filter (lists, enterprise-project learning) -> relay

`place` finds the enterprise project a decision is made in (pipeline/enterprise.py); a list
whose items the caller may see only in part is assembled by the filter phase (pipeline/filter.py).

Each stage is a function in its own module that either returns what the next stage needs or
raises GatewayError; this handler is the only place that knows the order. What later stages or
the access log need is written into the request's notes (pipeline/notes.py).
"""
from __future__ import annotations

import time

from aiohttp import web

from ..errors import GatewayError
from ..services import SERVICES
from .authenticate import authenticate, wants_body
from .authorize import authorize, caller_grants, list_visibility
from .body import read_limited_body
from .client_ip import source_ip
from .enterprise import UNPLACED, needs_placement, place, wants_create_body
from .filter import filtered_list, filters_list, learn_from_answer
from .ratelimit import rate_limit
from .report_only import audit_report_only
from .notes import notes_of
from .respond import error_response
from .routing import route_request
from .scope import check_project_scope


async def handle_ddm(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    runtime = services.runtime          # one consistent config snapshot for the whole request
    config = runtime.config
    notes = notes_of(request)
    request_id = notes.request_id
    legacy = request.raw_path.startswith(("/v1/", "/v2/"))   # until routing knows better
    headers: tuple[tuple[str, str], ...] = ()
    client_ip = notes.source_ip = source_ip(request, config.listen.trusted_proxies)
    try:
        route = notes.route = route_request(request, runtime.catalog)
        legacy = route.version in ("v1", "v2")
        body = None
        placement = UNPLACED
        if route.authenticated:
            if wants_body(request):   # the signature covers the body (the proxy reads it otherwise)
                body = await read_limited_body(request, config.listen.max_body_bytes,
                                               timeout_s=config.listen.body_timeout_s)
            principal = notes.principal = await authenticate(request, services, body=body,
                                                              source_ip=client_ip)
            project = check_project_scope(principal, route.project_id, runtime.directory)
            headers = await rate_limit(principal, route.action, services, notes)
            notes.ratelimit_outcome = "allowed"
            grants = caller_grants(principal, project, services)
            if body is None and wants_create_body(route, principal, grants):
                body = await read_limited_body(request, config.listen.max_body_bytes,
                                               timeout_s=config.listen.body_timeout_s)
            if needs_placement(principal, grants):
                placement = await place(route, principal, grants, body, services, request_id)
            verdict = authorize(principal, route, project, services, placement, grants)
            notes.decision_effect = verdict.decision.effect if verdict.allowed else "deny"
            notes.enterprise_project = verdict.enterprise_project
            services.observability.audit_decision(
                request_id, principal, verdict.action, verdict.resource, verdict.allowed,
                verdict.decision.effect, verdict.decision.deciding, verdict.denied_actions,
                verdict.enterprise_project)
            audit_report_only(principal, route, project, placement, verdict, services, request_id)
            verdict.raise_if_denied()
            if filters_list(route, placement):
                response, notes.enterprise_project = await filtered_list(
                    request, route, list_visibility(principal, route, project, services), services,
                    request_id=request_id, legacy=legacy, extra_headers=headers)
                notes.upstream_status = response.status
                return response
        started = time.perf_counter()
        response = await services.upstream.forward(
            request, body=body, request_id=request_id, project_id=route.project_id,
            client_ip=client_ip, legacy_errors=legacy, extra_headers=headers, route=route.operation)
        services.observability.metrics.upstream_latency.observe(time.perf_counter() - started, route.action)
        notes.upstream_status = response.status
        if runtime.grants.uses_enterprise_projects:
            learn_from_answer(route, response, placement, services)
        return response
    except GatewayError as err:
        if err.status == 429:
            notes.ratelimit_outcome = "rejected"
        response = error_response(err, request_id, legacy=legacy)
        for name, value in headers:
            response.headers.setdefault(name, value)
        return response
