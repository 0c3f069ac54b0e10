"""The edge of the DDM catch-all route: the aiohttp request becomes plain values for the
pipeline (its RequestHead, built by the request-id stage, and its body behind the bounded
reader), and the pipeline's answer goes back through this `EdgeExchange` (relay or error
response). pipeline/ddm.py keeps the order of the phases; this module only adapts.
"""
from __future__ import annotations

from typing import Awaitable

from aiohttp import web

from ..errors import GatewayError
from ..pipeline.ddm import handle_ddm
from ..proxy.answer import UpstreamResponse
from ..request import Headers, RequestHead
from ..services import SERVICES
from .body import ClientBody
from .relay import relay
from .request_id import notes_of
from .respond import error_response


class EdgeExchange:
    """How the pipeline's answer reaches this client (pipeline.ddm.Exchange)."""

    __slots__ = ("_request", "_request_id")

    def __init__(self, request: web.Request, request_id: str) -> None:
        self._request = request
        self._request_id = request_id

    def relay(self, answer: UpstreamResponse, headers: Headers) -> Awaitable[web.StreamResponse]:
        return relay(self._request, answer, self._request_id, headers)

    def refuse(self, err: GatewayError, headers: Headers, *, legacy: bool) -> web.StreamResponse:
        response = error_response(err, self._request_id, legacy=legacy)
        for name, value in headers:    # the RateLimit headers of a refused request
            response.headers.setdefault(name, value)
        return response


def ddm_route(request: web.Request, head: RequestHead) -> Awaitable[web.StreamResponse]:
    """The pipeline's coroutine itself for a request without a body (no adapter frame on the
    common path); one holding a body gives the budget back once the pipeline is done."""
    services = request.app[SERVICES]
    exchange = EdgeExchange(request, head.request_id)
    if not request.body_exists:
        return handle_ddm(head, None, exchange, services, notes_of(request))
    listen = services.runtime.config.listen
    body = ClientBody(services.bodies, request, listen.max_body_bytes, listen.body_timeout_s)
    return _holding(body, handle_ddm(head, body, exchange, services, notes_of(request)))


async def _holding(body: ClientBody, pipeline: Awaitable[web.StreamResponse]) -> web.StreamResponse:
    try:
        return await pipeline
    finally:   # the budget the body held, given back whatever happened
        body.release()
