"""The one place a GatewayError becomes an HTTP response."""
from __future__ import annotations

from aiohttp import web

from ..errors import JSON_CONTENT_TYPE, GatewayError, error_body


def error_response(err: GatewayError, request_id: str, *, legacy: bool) -> web.Response:
    response = web.Response(status=err.status, body=error_body(err.code, err.message, request_id, legacy=legacy))
    response.headers["Content-Type"] = JSON_CONTENT_TYPE
    response.headers["X-Request-Id"] = request_id
    for name, value in err.headers:
        response.headers[name] = value
    return response
