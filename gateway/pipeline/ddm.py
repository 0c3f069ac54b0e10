"""The DDM request pipeline, top to bottom:

    route -> authenticate -> rate-limit -> place -> authorize (-> report-only policies, audited)
    -> body -> proxy (forward.py) -> normalize -> relay -> enterprise-project learning

over plain values: the edge (gateway/http/ddm.py) built the RequestHead once, gives the body as
a bounded RequestBody, and is the `Exchange` the answer goes out through; nothing here sees the
aiohttp request. A list the caller may see only in part takes the filter phase instead of the
proxy (it fetches every page with the gateway's credentials and answers the caller's page). The
proxy returns a plain UpstreamResponse; nothing is written to the client before the relay.

`place` finds the enterprise project a decision is made in (pipeline/enterprise.py); `GET /`,
the one public route, is answered after routing from static data. An AK/SK request's body is
read inside authenticate, once its access key is known and not locked (the signature covers
it); a create's body when placement needs it; any other after authorization. All of them
through the edge's one reader (size, time, process budget).

Each stage is a function in its own module that either returns what the next stage needs or
raises GatewayError; this function is the only place that knows the order. What later stages or
the access log need is written into the request's notes (gateway/notes.py).
"""
from __future__ import annotations

import time
from typing import Awaitable, Protocol, TypeVar

from ..errors import GatewayError
from ..notes import RequestNotes
from ..proxy.answer import UpstreamResponse
from ..request import Headers, RequestBody, RequestHead
from ..services import Services
from .authorize import authorize, caller_grants, list_visibility
from .enterprise import UNPLACED, needs_placement, place, wants_create_body
from .filter import filtered_list, filters_list, learn_from_answer
from .forward import forward_request
from .normalize import normalize_errors
from .ratelimit import rate_limit
from .report_only import audit_report_only
from .routing import route_request
from .versions import api_versions_answer

BODYLESS_METHODS = frozenset({"GET", "HEAD"})
R = TypeVar("R", covariant=True)


class Exchange(Protocol[R]):
    """The edge's side of one request: how an answer or a refusal reaches the client."""

    def relay(self, answer: UpstreamResponse, headers: Headers) -> Awaitable[R]: ...

    def refuse(self, err: GatewayError, headers: Headers, *, legacy: bool) -> R: ...


async def handle_ddm(head: RequestHead, body: RequestBody | None, exchange: Exchange[R],
                     services: Services, notes: RequestNotes) -> R:
    """`body` None: the request has none."""
    runtime = services.runtime          # one consistent config snapshot for the whole request
    authn = services.authn
    request_id = head.request_id
    legacy = head.raw_path.startswith(("/v1/", "/v2/"))   # until routing knows better
    headers: Headers = ()
    read_body = body.read if body is not None else None
    try:
        route = notes.route = route_request(head, runtime.catalog)
        legacy = route.version in ("v1", "v2")
        if not route.authenticated:    # the catalog's one public route: GET / (section 4.1.1)
            return await exchange.relay(api_versions_answer(), ())
        if body is not None and head.method in BODYLESS_METHODS:
            raise meaningless_body()
        placement = UNPLACED
        principal, content = await authn.authenticate(head, runtime, read_body=read_body)
        notes.principal = principal
        project = authn.project_scope(principal, head, route.project_id, runtime)
        headers = await rate_limit(principal, route.action, services, notes)
        notes.ratelimit_outcome = "allowed"
        grants = caller_grants(principal, project, services)
        if content is None and body is not None and wants_create_body(route, principal, grants):
            content = await body.read()
        if needs_placement(principal, grants):
            placement = await place(route, principal, grants, content, services, request_id)
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
                head, route, list_visibility(principal, route, project, services), services)
            learns = False                       # the filter phase learned from every page
        else:
            if content is None and body is not None:   # a token's body: only now, through the same reader
                content = await body.read()
            started = time.perf_counter()
            answer = await forward_request(head, body, content, services.upstream,
                                           project_id=route.project_id, route=route.operation)
            services.observability.metrics.upstream_latency.observe(time.perf_counter() - started,
                                                                    route.action)
        notes.upstream_status = answer.status
        response = await exchange.relay(normalize_errors(answer, request_id, legacy=legacy), headers)
        if learns:       # after the relay, which gives the connection back whatever happens
            learn_from_answer(route, answer, placement, services)
        return response
    except GatewayError as err:
        if err.status == 429:
            notes.ratelimit_outcome = "rejected"
        return exchange.refuse(err, headers, legacy=legacy)


def meaningless_body() -> GatewayError:
    """A body on GET/HEAD has no defined meaning (RFC 9110 9.3.1) and no DDM route takes one:
    refused rather than forwarded. DELETE keeps its body: the official SDK sends one on three
    DDM routes (nodes, logical-processes, physical-processes)."""
    return GatewayError.of("bad_request", "A GET or HEAD request must not have a body.")
