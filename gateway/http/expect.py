"""`Expect: 100-continue`: a body over the route's limit is refused (413) before the client is
invited to upload it; otherwise the client is told to continue, as aiohttp's default does."""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from ..errors import GatewayError
from .request_id import choose_request_id
from .respond import error_response

ExpectHandler = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


def expect_within(limit_of: Callable[[web.Request], int]) -> ExpectHandler:
    """An aiohttp `expect_handler` for routes whose bodies may be at most `limit_of(request)`."""
    async def expect_handler(request: web.Request) -> web.StreamResponse | None:
        rid = choose_request_id(request.headers.get("X-Request-Id"))
        if request.headers.get("Expect", "").lower() != "100-continue" or request.version < (1, 1):
            return _refusal(GatewayError(417, "APIGW.0201", "Only Expect: 100-continue is supported."), rid)
        declared = request.content_length
        if declared is not None and declared > limit_of(request):
            return _refusal(GatewayError.of("too_large"), rid)
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0   # the real response has not started yet
        return None
    return expect_handler


def _refusal(err: GatewayError, request_id: str) -> web.StreamResponse:
    response = error_response(err, request_id, legacy=False)
    response.force_close()   # the announced body is never read: this connection cannot be reused
    return response
