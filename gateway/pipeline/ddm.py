"""The DDM request pipeline, top to bottom:

    request id (handler wrapper) -> route -> authenticate -> rate-limit -> place -> authorize
    (-> report-only policies, audited) -> body -> proxy (forward.py) -> normalize -> relay
    -> enterprise-project learning

A list the caller may see only in part takes the filter phase instead of the proxy (it fetches
every page with the gateway's credentials and answers the caller's page). The proxy returns a
plain UpstreamResponse; nothing is written to the client before the relay.

`place` finds the enterprise project a decision is made in (pipeline/enterprise.py); a list
whose items the caller may see only in part is assembled by the filter phase (pipeline/filter.py).
`GET /`, the one public route, is answered after routing from static data. An AK/SK request's
body is read inside authenticate, once its access key is known and not locked (the signature
covers it); a create's body when placement needs it; any other after authorization. All of
them through pipeline/body.py.

Each stage is a function in its own module that either returns what the next stage needs or
raises GatewayError; this handler is the only place that knows the order. What later stages or
the access log need is written into the request's notes (pipeline/notes.py).
"""
from __future__ import annotations

import functools
import time

from aiohttp import web

from ..errors import GatewayError
from ..services import SERVICES
from .authenticate import authenticate
from .authorize import authorize, caller_grants, list_visibility
from .client_ip import source_ip
from .enterprise import UNPLACED, needs_placement, place, wants_create_body
from .filter import filtered_list, filters_list, learn_from_answer
from .forward import forward_request
from .normalize import normalize_errors
from .ratelimit import rate_limit
from .report_only import audit_report_only
from .notes import notes_of
from .relay import relay
from .respond import error_response
from .routing import route_request
from .scope import check_project_scope
from .versions import api_versions_response

BODYLESS_METHODS = frozenset({"GET", "HEAD"})


async def handle_ddm(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    runtime = services.runtime          # one consistent config snapshot for the whole request
    config = runtime.config
    notes = notes_of(request)
    request_id = notes.request_id
    legacy = request.raw_path.startswith(("/v1/", "/v2/"))   # until routing knows better
    headers: tuple[tuple[str, str], ...] = ()
    client_ip = notes.source_ip = source_ip(request, config.listen.trusted_proxies)
    lease = services.bodies.lease() if request.body_exists else None   # given back at the end
    read_body = no_body if lease is None else functools.partial(
        lease.read, request, config.listen.max_body_bytes, timeout_s=config.listen.body_timeout_s)
    try:
        route = notes.route = route_request(request, runtime.catalog)
        legacy = route.version in ("v1", "v2")
        if not route.authenticated:    # the catalog's one public route: GET / (section 4.1.1)
            return api_versions_response()
        if lease is not None and request.method in BODYLESS_METHODS:
            raise meaningless_body()
        placement = UNPLACED
        principal, body = await authenticate(request, services, source_ip=client_ip, read_body=read_body)
        notes.principal = principal
        project = check_project_scope(principal, route.project_id, runtime.directory,
                                      header_project_id=request.headers.get("X-Project-Id"))
        headers = await rate_limit(principal, route.action, services, notes)
        notes.ratelimit_outcome = "allowed"
        grants = caller_grants(principal, project, services)
        if body is None and lease is not None and wants_create_body(route, principal, grants):
            body = await read_body()
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
        learns = runtime.grants.uses_enterprise_projects
        if filters_list(route, placement):
            answer, notes.enterprise_project = await filtered_list(
                request, route, list_visibility(principal, route, project, services), services,
                request_id=request_id)
            learns = False                       # the filter phase learned from every page
        else:
            if body is None and lease is not None:   # a token's body: only now, through the same reader
                body = await read_body()
            started = time.perf_counter()
            answer = await forward_request(request, services.upstream, body=body, request_id=request_id,
                                           project_id=route.project_id, client_ip=client_ip,
                                           route=route.operation)
            services.observability.metrics.upstream_latency.observe(time.perf_counter() - started,
                                                                    route.action)
        notes.upstream_status = answer.status
        response = await relay(request, normalize_errors(answer, request_id, legacy=legacy), request_id, headers)
        if learns:       # after the relay, which gives the connection back whatever happens
            learn_from_answer(route, answer, placement, services)
        return response
    except GatewayError as err:
        if err.status == 429:
            notes.ratelimit_outcome = "rejected"
        response = error_response(err, request_id, legacy=legacy)
        for name, value in headers:
            response.headers.setdefault(name, value)
        return response
    finally:
        if lease is not None:
            lease.release()


def meaningless_body() -> GatewayError:
    """A body on GET/HEAD has no defined meaning (RFC 9110 9.3.1) and no DDM route takes one:
    refused rather than forwarded. DELETE keeps its body: the official SDK sends one on three
    DDM routes (nodes, logical-processes, physical-processes)."""
    return GatewayError.of("bad_request", "A GET or HEAD request must not have a body.")


async def no_body() -> bytes:
    """The body reader of a request without one (never called: nothing to read)."""
    return b""
