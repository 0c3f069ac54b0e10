"""The proxy stage: one keep-alive connection pool (pool.py, http1.py) that forwards requests to DDM.

Method, path and query go upstream byte for byte (the client's signature and DDM's routing both
depend on them); the body is streamed unless the upstream auth mode signs it. Successes come back
untouched: a small reply with a known length is read whole and sent in one write, anything else is
streamed; errors (>= 400) are read up to a cap and normalized. Failures to reach DDM become
GatewayError 502 / 504, and only GET/HEAD are ever retried (once, and only when the upstream sent
nothing back), so a POST reaches DDM at most once.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from functools import partial
from typing import AsyncIterable, NamedTuple, Sequence

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from ..errors import JSON_CONTENT_TYPE, GatewayError
from .admission import Admission, PoolBusy
from .bodies import BodyTooLarge, decode_content, read_limited
from .env_proxy import proxy_for
from .headers import request_headers, response_headers, value_of, without_reflections
from .http1 import IncompleteBody, Response, UpstreamDropped, UpstreamTimeout
from .http1_head import (FRAMING_CHUNKED, FRAMING_CLOSE, FRAMING_LENGTH, FRAMING_NONE, GET_METHODS,
                         InvalidRequest, MalformedResponse)
from .normalize import MAX_ERROR_BODY_BYTES, normalize_error
from .outgoing import OutgoingRequest, UpstreamAuth
from .pool import ConnectFailed, UpstreamPool

log = logging.getLogger(__name__)

MAX_SIGNED_BODY_BYTES = 12 * 1024 * 1024  # APIG's limit for AK/SK-signed bodies
BUFFERED_RESPONSE_MAX_BYTES = 256 * 1024  # replies up to this size are sent in one write
FETCHED_BODY_MAX_BYTES = 16 * 1024 * 1024  # a reply to the gateway's own request (`fetch`) is read whole
RETRYABLE_METHODS: frozenset[str] = frozenset({"GET", "HEAD"})
KEEPALIVE_S = 30.0  # an idle upstream connection is closed after this long (aiohttp's default too)
PROBE_TIMEOUT_S = 2.0   # readiness: DDM must answer `GET /` (its version list) within this
PROBE_CACHE_S = 5.0     # ... and the verdict is reused this long (a scrape storm is one probe)
# Upstream error-response headers still meaningful after the body is rewritten.
_KEPT_ERROR_HEADERS: tuple[str, ...] = ("Retry-After", "WWW-Authenticate")
# Failures after the head arrived: the answer is unusable, the connection too.
_BROKEN_BODY = (UpstreamTimeout, UpstreamDropped, IncompleteBody, MalformedResponse)


class PoolLimits(NamedTuple):
    """The upstream pool's caps (README "Edge limits"): `max_connections` in flight, at most
    `max_connections_per_route` of them for one route (None: three quarters of the total),
    `max_pending` waiting for one (more: 503 at once), each at most `pool_timeout_s` (then
    503); `read_timeout_s` of silence ends a streamed body."""

    max_connections: int = 256
    max_connections_per_route: int | None = None
    max_pending: int = 256
    pool_timeout_s: float = 1.0
    read_timeout_s: float = 60.0


class UpstreamClient:
    """Forwards DDM requests upstream; owns one keep-alive connection pool from start to close."""

    def __init__(self, base_url: str, auth: UpstreamAuth, *, connect_timeout_s: float, timeout_s: float,
                 retry_idempotent: bool = True, max_connections: int = 256,
                 max_body_bytes: int = MAX_SIGNED_BODY_BYTES, limits: PoolLimits | None = None,
                 trust_env: bool = True) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError(f"upstream.url: not an http(s) URL: {base_url!r}")
        self._prefix = url.raw_path.rstrip("/")
        self._host = url.host_port_subcomponent or url.raw_host
        self._auth = auth
        # connect_timeout_s: the TCP (and TLS) connect (502 when exceeded); timeout_s: from the
        # request's first byte to the response head and any body read whole (504); then only
        # silence ends a streamed body (limits.read_timeout_s): a long healthy download is fine.
        limits = limits or PoolLimits(max_connections=max_connections, read_timeout_s=timeout_s)
        port = url.port or (443 if url.scheme == "https" else 80)
        # trust_env: HTTP(S)_PROXY / NO_PROXY, read once here (env_proxy.py)
        proxy = proxy_for(url.scheme, url.raw_host, port) if trust_env else None
        self._new_pool = partial(
            UpstreamPool, url.raw_host, port, proxy=proxy,
            tls=ssl.create_default_context() if url.scheme == "https" else None,
            connect_timeout_s=connect_timeout_s, timeout_s=timeout_s, read_timeout_s=limits.read_timeout_s,
            keepalive_s=KEEPALIVE_S)
        self._limits = limits
        self._retry_idempotent = retry_idempotent
        self._max_body_bytes = max_body_bytes
        self._pool: UpstreamPool | None = None
        self._probe: asyncio.Task[bool] | None = None
        self._probed_at = -PROBE_CACHE_S

    @property
    def needs_body(self) -> bool:
        """True when the upstream auth signs the body: pass `forward(body=...)` bytes if you have them
        (forward reads it itself, bounded by `max_body_bytes`, when given None)."""
        return self._auth.needs_body

    async def start(self) -> None:
        limits = self._limits
        self._pool = self._new_pool(admission=Admission(
            total=limits.max_connections,
            per_route=limits.max_connections_per_route or max(1, limits.max_connections * 3 // 4),
            max_pending=limits.max_pending, wait_s=limits.pool_timeout_s))

    async def probe(self) -> bool:
        """Readiness: True when DDM answered its cheapest request (`GET /`, no auth: the API
        version list) with a status below 500, within PROBE_TIMEOUT_S. One probe in flight at a
        time; its verdict is cached PROBE_CACHE_S."""
        loop = asyncio.get_running_loop()
        probe = self._probe
        if probe is None or (probe.done() and loop.time() - self._probed_at >= PROBE_CACHE_S):
            self._probed_at = loop.time()
            probe = self._probe = asyncio.create_task(self._probe_once())
        return await asyncio.shield(probe)

    async def _probe_once(self) -> bool:
        pool = self._require_pool()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                reply = await pool.exchange("GET", self._prefix + "/", (("Host", self._host),))
                try:
                    await reply.read_capped(MAX_ERROR_BODY_BYTES)
                finally:
                    reply.release()
        except Exception as err:   # every way of not answering is "not ready"; the kind is logged
            log.warning("upstream readiness probe failed: %s", type(err).__name__)
            return False
        return reply.status < 500

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._auth.close()

    async def forward(self, request: web.Request, *, body: bytes | None, request_id: str,
                      project_id: str | None, client_ip: str, legacy_errors: bool,
                      extra_headers: Sequence[tuple[str, str]] = (),
                      route: str | None = None) -> web.StreamResponse:
        """Send `request` upstream and answer with DDM's response (errors normalized).

        `extra_headers` (the gateway's RateLimit headers) are added to the response before it is
        prepared, since a streamed response cannot take headers afterwards. `route` (the DDM
        operation) is the connection share the request counts against: one slow route cannot hold
        every upstream connection."""
        if body is None and self._auth.needs_body and request.body_exists:
            body = await self._read_whole_body(request)
        out = await self._auth.apply(self._outgoing(request, body, request_id, project_id, client_ip))
        streamed = out.body is None and request.body_exists
        upstream = await self._send(out, request.content.iter_any() if streamed else None, route)
        try:
            secrets = self._auth.credentials(out)
            if secrets:
                _drop_reflections(upstream, secrets)
            if upstream.status == 401:
                self._auth.rejected(out)
            if upstream.status >= 400:
                response = await self._error_response(upstream, request_id, legacy_errors, secrets)
                response.headers.extend(extra_headers)
                return response
            return await self._respond(request, upstream, request_id, extra_headers)
        finally:
            upstream.release()

    async def fetch(self, raw_path: str, raw_query: str, *, request_id: str, project_id: str | None,
                    legacy_errors: bool) -> web.Response:
        """A GET of the gateway's own (an instance's enterprise project, the pages of a list the
        response stage filters), sent with the gateway's upstream credentials whatever the
        caller's. The answer is read whole (at most FETCHED_BODY_MAX_BYTES, else 502); errors are
        normalized as in `forward`; failures to reach DDM are the same 502 / 504."""
        headers = (("Host", self._host), ("Accept", "application/json"), ("X-Request-Id", request_id))
        out = await self._auth.apply(OutgoingRequest("GET", self._prefix + raw_path, raw_query, headers,
                                                     None, project_id))
        upstream = await self._send(out, None, None)   # counts towards the total only
        try:
            secrets = self._auth.credentials(out)
            if secrets:
                _drop_reflections(upstream, secrets)
            if upstream.status == 401:
                self._auth.rejected(out)
            if upstream.status >= 400:
                return await self._error_response(upstream, request_id, legacy_errors, secrets)
            try:
                raw = await upstream.read_capped(FETCHED_BODY_MAX_BYTES + 1)
            except UpstreamTimeout as err:
                raise GatewayError.of("gateway_timeout") from err
            except _BROKEN_BODY as err:
                raise _unavailable(out, err) from err
            encoding = value_of(upstream.headers, "Content-Encoding")
            if len(raw) > FETCHED_BODY_MAX_BYTES or (encoding or "identity").lower() != "identity":
                raise _unavailable(out, ValueError("reply too large or encoded"))
            headers = response_headers(upstream.headers, request_id=request_id, drop_length=True)
            return web.Response(status=upstream.status, reason=upstream.reason, body=raw,
                                headers=CIMultiDict(headers))
        finally:
            upstream.release()

    def _outgoing(self, request: web.Request, body: bytes | None, request_id: str,
                  project_id: str | None, client_ip: str) -> OutgoingRequest:
        raw_path, raw_query = split_target(request)
        stream_length = request.content_length if body is None and request.body_exists else None
        headers = request_headers(
            request.headers.items(), keep_credentials=self._auth.keeps_client_credentials,
            upstream_host=self._host, request_id=request_id, client_ip=client_ip,
            proto=request.scheme, original_host=request.host, content_length=stream_length)
        if body is not None and not body and request.method in GET_METHODS:
            body = None  # a GET without a body stays without one (no Content-Length: 0 added)
        return OutgoingRequest(request.method, self._prefix + raw_path, raw_query, headers, body, project_id)

    async def _read_whole_body(self, request: web.Request) -> bytes:
        """The auth mode signs the body, so it must be read first; bounded like APIG (413)."""
        if (request.content_length or 0) > self._max_body_bytes:
            raise GatewayError.of("too_large")  # declared too big: refuse without reading a byte
        try:
            return await read_limited(request.content, self._max_body_bytes)
        except BodyTooLarge:
            raise GatewayError.of("too_large") from None

    async def _send(self, out: OutgoingRequest, stream: AsyncIterable[bytes] | None,
                    route: str | None) -> Response:
        pool = self._require_pool()
        target = out.raw_path + ("?" + out.raw_query if out.raw_query else "")
        replayable = stream is None
        attempts = 2 if self._retry_idempotent and replayable and out.method in RETRYABLE_METHODS else 1
        for attempt in range(1, attempts + 1):
            try:
                return await pool.exchange(out.method, target, out.headers, body=out.body, stream=stream,
                                           route=route)
            except PoolBusy as err:
                log.warning("upstream pool busy: %s %s (%s)", out.method, out.raw_path, err)
                raise GatewayError.of("upstream_busy", headers=(("Retry-After", "1"),)) from None
            except UpstreamTimeout as err:
                log.warning("upstream timeout: %s %s", out.method, out.raw_path)
                raise GatewayError.of("gateway_timeout") from err
            except ConnectFailed as err:
                if err.timed_out or attempt == attempts:
                    raise _unavailable(out, err) from err
            except UpstreamDropped as err:
                if not err.no_reply or attempt == attempts:
                    raise _unavailable(out, err) from err
            except (IncompleteBody, MalformedResponse) as err:
                raise _unavailable(out, err) from err
            except InvalidRequest:
                raise GatewayError.of("bad_request") from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _error_response(self, upstream: Response, request_id: str, legacy: bool,
                              secrets: tuple[str, ...]) -> web.Response:
        try:
            raw = await upstream.read_capped(MAX_ERROR_BODY_BYTES)
        except UpstreamTimeout as err:
            raise GatewayError.of("gateway_timeout") from err
        except _BROKEN_BODY:
            raw = b""  # the status line already says what happened; the body is a bonus
        text = _scrubbed(decode_content(raw, value_of(upstream.headers, "Content-Encoding"), MAX_ERROR_BODY_BYTES),
                         secrets)
        body = normalize_error(upstream.status, value_of(upstream.headers, "Content-Type"), text,
                               request_id=request_id, legacy=legacy)
        if secrets:   # also after decoding: a message that spelled the secret with JSON escapes
            body = _scrubbed(body, secrets)
        response = web.Response(status=upstream.status, body=body,
                                headers={"Content-Type": JSON_CONTENT_TYPE, "X-Request-Id": request_id})
        for name in _KEPT_ERROR_HEADERS:
            value = value_of(upstream.headers, name)
            if value is not None:
                response.headers[name] = value
        return response

    async def _respond(self, request: web.Request, upstream: Response, request_id: str,
                       extra_headers: Sequence[tuple[str, str]]) -> web.StreamResponse:
        """Nearly every DDM answer is small with a Content-Length: read it whole and send status
        line, headers and body in ONE write (web.Response). HEAD/204/304 and large or
        unknown-length bodies are streamed."""
        head = upstream.head
        if head.framing != FRAMING_LENGTH or (head.content_length or 0) > BUFFERED_RESPONSE_MAX_BYTES:
            return await self._stream_back(request, upstream, request_id, extra_headers)
        try:
            payload = await upstream.read_all()
        except UpstreamTimeout as err:   # nothing sent yet, and the exchange's deadline is over
            raise GatewayError.of("gateway_timeout") from err
        except _BROKEN_BODY as err:
            return await self._cut_short(request, upstream, request_id, extra_headers, err)
        headers = CIMultiDict((*response_headers(upstream.headers, request_id=request_id, drop_length=True),
                               *extra_headers))
        return web.Response(status=upstream.status, reason=upstream.reason, body=payload, headers=headers)

    async def _stream_back(self, request: web.Request, upstream: Response, request_id: str,
                           extra_headers: Sequence[tuple[str, str]]) -> web.StreamResponse:
        response = _stream_response(upstream, request_id, extra_headers)
        await response.prepare(request)
        upstream.stream_body()
        if upstream.head.framing == FRAMING_NONE:
            await response.write_eof()
            return response
        try:
            async for chunk in upstream.iter_chunks():
                await response.write(chunk)
        except _BROKEN_BODY as err:
            return _cut(request, response, err)
        except ConnectionResetError:
            # The client went away mid-body: nothing left to send to anyone; `forward` closes
            # the half-read upstream connection.
            log.info("client disconnected mid-response")
            return response
        await response.write_eof()
        return response

    async def _cut_short(self, request: web.Request, upstream: Response, request_id: str,
                         extra_headers: Sequence[tuple[str, str]], err: Exception) -> web.StreamResponse:
        """The body broke off after a good head: answer the head, then cut the connection, as a
        streamed reply would have (the client sees a truncated body, never a fake success)."""
        response = _stream_response(upstream, request_id, extra_headers)
        await response.prepare(request)
        return _cut(request, response, err)

    def _require_pool(self) -> UpstreamPool:
        if self._pool is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        return self._pool


REDACTED = b"[redacted]"


def _drop_reflections(upstream: Response, secrets: tuple[str, ...]) -> None:
    """Headers echoing the gateway's own upstream token or signature (Set-Cookie, a debug
    header...) never reach the client."""
    kept, dropped = without_reflections(upstream.headers, secrets)
    if dropped:
        log.warning("upstream reflected the gateway's credential in %s; dropped", ", ".join(sorted(dropped)))
        upstream.headers = kept


def _scrubbed(data: bytes, secrets: tuple[str, ...]) -> bytes:
    for secret in secrets:
        data = data.replace(secret.encode("utf-8", "surrogateescape"), REDACTED)
    return data


def _stream_response(upstream: Response, request_id: str,
                     extra_headers: Sequence[tuple[str, str]]) -> web.StreamResponse:
    """A chunked or close-delimited body is re-framed by the server: a Content-Length the upstream
    sent beside Transfer-Encoding (RFC 9112 6.3: the intermediary removes it) would make the
    client cut the body short, or read the next reply as part of it."""
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    reframed = upstream.head.framing in (FRAMING_CHUNKED, FRAMING_CLOSE)
    for name, value in response_headers(upstream.headers, request_id=request_id, drop_length=reframed):
        response.headers.add(name, value)
    response.headers.extend(extra_headers)
    return response


def _cut(request: web.Request, response: web.StreamResponse, err: Exception) -> web.StreamResponse:
    """Headers are gone already: the only honest signal left is a cut connection."""
    log.warning("upstream failed mid-response (%s); closing the client connection", type(err).__name__)
    if request.transport is not None:
        request.transport.close()
    return response


def split_target(request: web.Request) -> tuple[str, str]:
    """The raw path and raw query exactly as the client sent them (no decoding, no re-encoding)."""
    target = request.raw_path
    if not target.startswith("/"):  # absolute-form request target: fall back to the parsed URL
        return request.rel_url.raw_path, request.rel_url.raw_query_string
    path, _, query = target.partition("?")
    return path, query


def _unavailable(out: OutgoingRequest, err: Exception) -> GatewayError:
    """502 APIGW.0201: DDM could not be reached, or answered with something unusable."""
    log.warning("upstream unavailable: %s %s (%s)", out.method, out.raw_path, type(err).__name__)
    return GatewayError.of("bad_gateway")
