"""Client connections at the socket level: deadlines, a cap, and the parser's refusals.

aiohttp's defaults trust the client: no deadline on a request's head (a header sent one byte a
second holds its connection for ever), an idle keep-alive of about an hour, no cap on
connections, and requests its HTTP parser refuses answered in text/plain, echoing the input,
with an ERROR traceback each. `EdgeRunner` serves an app with `EdgeServer`, whose connections
are `EdgeProtocol`s:

- head deadline: from the first byte of a request (or from the connection's start) to its
  complete head, `header_timeout_s`; past it the connection is closed;
- idle keep-alive: aiohttp's own timer, at `keepalive_timeout_s`;
- cap: past `max_connections` open connections a new one gets a 503 in the documented shape
  and is closed at once, before any request is parsed;
- parser refusals (a 9 KB header, a lowercase method, bytes HTTP forbids, Content-Length with
  Transfer-Encoding ...): the documented JSON 400 with an X-Request-Id, nothing echoed, one
  info line in the log.

The limits travel on the app (`EDGE_LIMITS`, set by create_app from `listen`); an app without
them (the simulator, the admin app) is served as aiohttp would.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..config.model import ListenConfig
from ..errors import GatewayError, JSON_CONTENT_TYPE, error_body
from .dispatch import EdgeDispatch
from .request_id import new_request_id
from .respond import error_response

log = logging.getLogger("ddm_gateway.connections")


@dataclass(frozen=True)
class EdgeLimits:
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 75.0
    max_connections: int = 1024

    @classmethod
    def from_listen(cls, listen: ListenConfig) -> "EdgeLimits":
        return cls(listen.header_timeout_s, listen.keepalive_timeout_s, listen.max_connections)


EDGE_LIMITS = web.AppKey("edge_limits", EdgeLimits)


class EdgeRunner(web.AppRunner):
    """An AppRunner whose server makes EdgeProtocol connections when the app has EDGE_LIMITS."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        limits = app.get(EDGE_LIMITS)
        if limits is not None:
            kwargs.setdefault("keepalive_timeout", limits.keepalive_timeout_s)
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        if self._limits is None:
            return server
        return EdgeServer(server, self._limits, EdgeDispatch.for_app(self._app))


class EdgeServer(web.Server):
    """aiohttp's Server (same request factory and settings), with capped connections, and the
    app's EdgeDispatch as its handler when it has one (http/dispatch.py).
    Built from the plain one AppRunner made: aiohttp has no public hook for the connection
    class, so the plain server's `_loop`/`_kwargs` are read here and nowhere else (the socket
    tests of tests/test_edge_connections.py fail if a new aiohttp renames them)."""

    def __init__(self, plain: web.Server, limits: EdgeLimits, dispatch: EdgeDispatch | None = None) -> None:
        super().__init__(dispatch or plain.request_handler, request_factory=plain.request_factory,
                         handler_cancellation=plain.handler_cancellation, loop=plain._loop,
                         **plain._kwargs)
        self.limits = limits
        self._plain_factory = plain.request_factory
        self.request_factory = self._make_edge_request

    def __call__(self) -> asyncio.Protocol:  # type: ignore[override]
        if len(self._connections) >= self.limits.max_connections:
            return OverCapacity()
        return EdgeProtocol(self, loop=self._loop, **self._kwargs)

    def _make_edge_request(self, message: Any, payload: Any, protocol: RequestHandler,
                           writer: Any, task: "asyncio.Task[None]") -> web.BaseRequest:
        """Called once a request's head is parsed, as its handling starts."""
        if isinstance(protocol, EdgeProtocol):   # the head is complete: no deadline while it is handled
            protocol._in_request = True
            protocol._head_since = None
        return self._plain_factory(message, payload, protocol, writer, task)


class EdgeProtocol(RequestHandler):
    """One client connection with a deadline on each request's head.

    One timer per connection, not one per request: `_head_since` says when the awaited head
    started (None while a request is being handled), and the timer, when it fires, either closes
    the connection or sleeps again until the current head's deadline (aiohttp's keep-alive timer
    works the same way). A busy keep-alive connection costs two attribute writes per request."""

    def __init__(self, manager: EdgeServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout_s = manager.limits.header_timeout_s
        self._head_since: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._await_head()   # a connection that never sends anything is closed too

    def data_received(self, data: bytes) -> None:
        if self._head_since is None and not self._in_request:
            self._head_since = self._loop.time()   # the first byte of the next request (kept alive)
            if self._head_timer is None:
                self._await_head()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def log_access(self, request: web.BaseRequest, response: web.StreamResponse,
                   time: float | None) -> None:
        """Called once a response is finished: the connection is between requests again."""
        self._in_request = False
        super().log_access(request, response, time)

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """Requests aiohttp answers itself: mostly ones its parser refused (status 400)."""
        rid = new_request_id()
        if status == 400:
            log.info("request refused by the HTTP parser (request id %s, peer %s): %s", rid,
                     request.remote, type(exc).__name__ if exc is not None else "malformed")
            refused = GatewayError.of("bad_request", "Malformed HTTP request.")
            response = error_response(refused, rid, legacy=False)
        else:
            if status >= 500 and exc is not None:
                log.error("unhandled error (request id %s): %s", rid, type(exc).__name__)
            kind = "gateway_timeout" if status == 504 else "internal"
            response = error_response(GatewayError.of(kind), rid, legacy=False)
        response.force_close()
        return response

    def _await_head(self) -> None:
        self._head_since = self._loop.time()
        if self._head_timer is None:
            self._head_timer = self._loop.call_at(self._head_since + self._header_timeout_s, self._check_head)

    def _check_head(self) -> None:
        self._head_timer = None
        if self._head_since is None:
            return   # a request is being handled; its successor's first byte starts a new wait
        due = self._head_since + self._header_timeout_s
        if self._loop.time() < due:
            self._head_timer = self._loop.call_at(due, self._check_head)
            return
        self.force_close()
        if self.transport is not None:
            self.transport.close()


class OverCapacity(asyncio.Protocol):
    """A connection past `max_connections`: one static 503, then closed; nothing is parsed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        rid = new_request_id()
        body = error_body("APIGW.0201", "Too many connections; retry later.", rid, legacy=False)
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: {JSON_CONTENT_TYPE}\r\n"
                f"Content-Length: {len(body)}\r\nX-Request-Id: {rid}\r\nRetry-After: 1\r\n"
                "Connection: close\r\n\r\n").encode("ascii")
        transport.write(head + body)
        transport.close()
