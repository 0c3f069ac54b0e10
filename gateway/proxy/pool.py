"""A keep-alive pool of HTTP/1.1 connections to one upstream origin, and the one call that uses it.

`exchange()` sends one request and returns the parsed response head; the caller reads the body
and then `release()`s it: a fully read keep-alive response gives its connection back, anything else
closes it. An idle connection the upstream closed (or that holds unasked bytes) is never reused.
"""
from __future__ import annotations

import asyncio
import ssl
from functools import partial
from typing import AsyncIterable

from .admission import Admission
from .env_proxy import ForwardProxy
from .http1 import Connection, IncompleteBody, Response, UpstreamDropped
from .http1_head import GET_METHODS, Headers, MalformedResponse, request_head


class ConnectFailed(Exception):
    """The TCP (or TLS) connection could not be made; `timed_out`: not within the connect timeout
    (a dead host: not worth a retry, unlike a refused connection)."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class UpstreamPool:
    """At most `max_connections` requests in flight (`admission` decides who waits); idle
    connections kept for `keepalive_s`. `timeout_s` bounds each exchange from its first byte
    sent to its response head (and any body read whole); `read_timeout_s` is the silence allowed
    while a streamed body is relayed."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None, connect_timeout_s: float,
                 timeout_s: float, read_timeout_s: float | None = None, max_connections: int = 256,
                 keepalive_s: float = 30.0, admission: Admission | None = None,
                 proxy: ForwardProxy | None = None) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._proxy = proxy
        self._authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # Through a proxy, plain HTTP goes in absolute form; TLS goes inside a CONNECT tunnel.
        self._absolute = proxy is not None and tls is None
        self._proxy_headers: Headers = (
            (("Proxy-Authorization", proxy.authorization),) if proxy is not None and proxy.authorization else ())
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._read_timeout_s = read_timeout_s if read_timeout_s is not None else timeout_s
        self._keepalive_s = keepalive_s
        self._admission = admission or Admission(total=max_connections, per_route=max_connections,
                                                 max_pending=1 << 30, wait_s=timeout_s)
        self._idle: list[Connection] = []
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None   # bound on first use

    async def exchange(self, method: str, target: str, headers: Headers, *,
                       body: bytes | None = None, stream: AsyncIterable[bytes] | None = None,
                       route: str | None = None) -> Response:
        """One request: `body` bytes (Content-Length set here) or `stream` (the caller's headers
        carry its Content-Length; without one it is sent chunked), or neither. `route` is the
        admission share it counts against (PoolBusy when none is free in time)."""
        headers = _framing_headers(method, headers, body, stream)
        if self._absolute:
            target, headers = f"http://{self._authority}{target}", headers + self._proxy_headers
        head = request_head(method, target, headers)
        loop = self._loop or self._bind_loop()
        if not self._admission.try_acquire(route):
            await self._admission.acquire(route, loop)
        connection: Connection | None = None
        try:
            connection = await self._connection(loop)
            connection.deadline = loop.time() + self._timeout_s
            connection.send(head, body)
            if stream is None:
                reply = Response(connection, await connection.read_head(method))
            else:
                reply = await _with_streamed_body(connection, method, stream, chunked=_is_chunked(headers))
            reply.on_release = partial(self._release, route)
            return reply
        except BaseException:
            if connection is not None:
                connection.close()
            self._admission.release(route)
            raise

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _release(self, route: str | None, response: Response) -> None:
        """Back to the pool if the exchange ended cleanly; otherwise the connection is closed."""
        connection = response.connection
        if response.reusable and not self._closed:
            now = connection.idle_since = connection.loop.time()
            connection.deadline = None
            self._idle.append(connection)
            self._sweep(now)
        else:
            connection.close()
        self._admission.release(route)

    def _sweep(self, now: float) -> None:
        """Close the least recently used idle connection once it is expired or dead: the pool is
        a stack, so under steady load the bottom one would otherwise never be looked at."""
        oldest = self._idle[0]
        if now - oldest.idle_since >= self._keepalive_s or not oldest.reusable:
            del self._idle[0]
            oldest.close()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> Connection:
        now = loop.time()
        while self._idle:
            connection = self._idle.pop()   # the most recently used: likeliest to be alive
            if connection.reusable and now - connection.idle_since < self._keepalive_s:
                return connection
            connection.close()
        return await self._connect(loop)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> Connection:
        """A new connection within connect_timeout_s (through the proxy's tunnel too)."""
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if self._proxy is None:
                    _, connection = await loop.create_connection(
                        lambda: Connection(loop, self._read_timeout_s), self._host, self._port, ssl=self._tls,
                        server_hostname=self._host if self._tls is not None else None)
                    return connection
                _, connection = await loop.create_connection(
                    lambda: Connection(loop, self._read_timeout_s), self._proxy.host, self._proxy.port)
                if self._tls is not None:
                    await self._tunnel(loop, connection, self._tls)
                return connection
        except TimeoutError as err:
            raise ConnectFailed("connect timeout", timed_out=True) from err
        except (OSError, ssl.SSLError) as err:
            raise ConnectFailed(f"{type(err).__name__}: {err}", timed_out=False) from err

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, connection: Connection, tls: ssl.SSLContext) -> None:
        """`CONNECT host:port` through the proxy, then TLS with DDM inside the tunnel."""
        try:
            connection.send(request_head("CONNECT", self._authority,
                                         (("Host", self._authority), *self._proxy_headers)), None)
            head = await connection.read_head("CONNECT")
        except (MalformedResponse, UpstreamDropped, IncompleteBody) as err:
            connection.close()
            raise ConnectFailed(f"proxy CONNECT failed: {type(err).__name__}", timed_out=False) from err
        if not 200 <= head.status < 300 or not connection.reusable:
            connection.close()
            raise ConnectFailed(f"proxy refused CONNECT: {head.status}", timed_out=False)
        try:
            transport = await loop.start_tls(connection.transport(), connection, tls, server_hostname=self._host)
        except BaseException:
            connection.close()
            raise
        if transport is None:
            connection.close()
            raise ConnectFailed("TLS through the proxy failed", timed_out=False)
        connection.upgraded(transport)


async def _with_streamed_body(connection: Connection, method: str, stream: AsyncIterable[bytes],
                              *, chunked: bool) -> Response:
    """Send the body while waiting for the head: an upstream may answer (413, 401) before reading
    it all. A body still being sent when the head arrives leaves the connection unusable; a body
    that failed (client gone, upstream closed) closes it, so the head wait ends at once."""
    sender = asyncio.ensure_future(connection.send_stream(stream, chunked=chunked))
    sender.add_done_callback(lambda task: task.cancelled() or task.exception() is None or connection.close())
    try:
        head = await connection.read_head(method)
    except BaseException:
        sender.cancel()
        raise
    reply = Response(connection, head)
    if not sender.done():
        sender.cancel()            # answered before the body was all sent: never reuse it
        reply.keep_alive = False
    elif sender.cancelled() or sender.exception() is not None:
        reply.keep_alive = False
    return reply


def _framing_headers(method: str, headers: Headers, body: bytes | None,
                     stream: AsyncIterable[bytes] | None) -> Headers:
    """Content-Length for a bytes body (and 0 for a body-less POST/PUT/PATCH/DELETE, as aiohttp
    sent it); Transfer-Encoding: chunked for a stream of unknown length."""
    if body is not None:
        return headers + (("Content-Length", str(len(body))),)
    if stream is not None:
        return headers if _has(headers, "content-length") else headers + (("Transfer-Encoding", "chunked"),)
    return headers if method in GET_METHODS else headers + (("Content-Length", "0"),)


def _is_chunked(headers: Headers) -> bool:
    return _has(headers, "transfer-encoding")


def _has(headers: Headers, lowered: str) -> bool:
    return any(name.lower() == lowered for name, _ in headers)
