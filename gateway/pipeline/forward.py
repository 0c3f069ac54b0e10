"""The proxy phase: the client's request as the OutgoingRequest DDM gets, sent by the proxy.

The proxy (proxy/client.py) only talks upstream and never sees the aiohttp request: this phase
hands it plain values (method, raw target, headers from the RequestHead, the body as bytes or
the client's stream) and gets back an UpstreamResponse for the response phases.
"""
from __future__ import annotations

from ..proxy.answer import UpstreamResponse
from ..proxy.client import UpstreamClient
from ..request import RequestBody, RequestHead


async def forward_request(head: RequestHead, body: RequestBody | None, content: bytes | None,
                          upstream: UpstreamClient, *, project_id: str | None,
                          route: str | None = None) -> UpstreamResponse:
    """`content`: the client's body when already read (always, when the upstream auth mode
    signs bodies: the pipeline read it through the bounded reader); None streams `body`."""
    streamed = content is None and body is not None
    out = upstream.outgoing(
        head.method, head.raw_path, head.raw_query, head.headers.items(), body=content,
        streamed_length=body.length if streamed and body is not None else None,
        request_id=head.request_id, project_id=project_id, client_ip=head.source_ip,
        proto=head.scheme, original_host=head.host)
    stream = body.stream() if out.body is None and body is not None else None
    return await upstream.forward(out, stream=stream, route=route)
