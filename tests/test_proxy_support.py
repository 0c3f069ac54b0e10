"""A bare forwarding app for the proxy tests: everything through one UpstreamClient and the
gateway's own proxy and response phases (forward, normalize, relay), a GatewayError
answered by the gateway's own error_response (no test keeps a second copy of that shape)."""
from __future__ import annotations

from aiohttp import web

from gateway.body_budget import BodyBudget
from gateway.errors import GatewayError
from gateway.http.body import ClientBody
from gateway.http.head import request_head
from gateway.pipeline.forward import forward_request
from gateway.pipeline.normalize import normalize_errors
from gateway.http.relay import relay
from gateway.http.respond import error_response
from gateway.proxy.answer import UpstreamResponse
from gateway.proxy.client import UpstreamClient


async def forward_plain(request: web.Request, proxy: UpstreamClient, *, content: bytes | None, request_id: str,
                        project_id: str | None, client_ip: str) -> UpstreamResponse:
    """The proxy phase as the pipeline runs it: the edge's RequestHead and bounded body reader,
    the body read whole first when the upstream auth mode signs it."""
    head = request_head(request, request_id, ())._replace(source_ip=client_ip)
    body = ClientBody(BodyBudget(1 << 40), request, proxy.max_body_bytes, 60.0) if request.body_exists else None
    if content is None and body is not None and proxy.needs_body:
        content = await body.read()
    return await forward_request(head, body, content, proxy, project_id=project_id)


def forwarding_app(proxy: UpstreamClient, *, request_id: str, client_ip: str, project_id: str | None = None,
                   buffer: bool = False, legacy_by_path: bool = True,
                   client_max_size: int = 32 * 1024 * 1024) -> web.Application:
    """`buffer`: read the body first (as an auth mode that signs it needs); `legacy_by_path`: v1/v2
    paths get DDM's legacy error shape, as in the gateway (otherwise always the v3 shape)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        legacy = legacy_by_path and request.raw_path.startswith(("/v1/", "/v2/"))
        try:
            body = await request.read() if buffer else None
            answer = await forward_plain(request, proxy, content=body, request_id=request_id,
                                         project_id=project_id, client_ip=client_ip)
            return await relay(request, normalize_errors(answer, request_id, legacy=legacy), request_id)
        except GatewayError as err:
            return error_response(err, request_id, legacy=legacy)

    app = web.Application(client_max_size=client_max_size)
    app.router.add_route("*", "/{tail:.*}", handler)
    return app
