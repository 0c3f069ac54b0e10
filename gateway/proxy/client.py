"""The proxy stage: one keep-alive connection pool (pool.py, http1.py) that forwards requests to DDM.

Method, path and query go upstream byte for byte (the client's signature and DDM's routing both
depend on them); the body is streamed unless the upstream auth mode signs it. Successes come back
untouched: a small reply with a known length is read whole and sent in one write, anything else is
streamed; errors (>= 400) are read up to a cap and normalized. Failures to reach DDM become
GatewayError 502 / 504, and only GET/HEAD are ever retried (once, and only when the upstream sent
nothing back), so a POST reaches DDM at most once.
"""
from __future__ import annotations

import logging
import ssl
from functools import partial
from typing import AsyncIterable, Sequence

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from ..errors import JSON_CONTENT_TYPE, GatewayError
from .bodies import BodyTooLarge, decode_content, read_limited
from .headers import request_headers, response_headers, value_of
from .http1 import IncompleteBody, Response, UpstreamDropped, UpstreamTimeout
from .http1_head import FRAMING_LENGTH, FRAMING_NONE, GET_METHODS, InvalidRequest, MalformedResponse
from .normalize import MAX_ERROR_BODY_BYTES, normalize_error
from .outgoing import OutgoingRequest, UpstreamAuth
from .pool import ConnectFailed, UpstreamPool

log = logging.getLogger(__name__)

MAX_SIGNED_BODY_BYTES = 12 * 1024 * 1024  # APIG's limit for AK/SK-signed bodies
BUFFERED_RESPONSE_MAX_BYTES = 256 * 1024  # replies up to this size are sent in one write
FETCHED_BODY_MAX_BYTES = 16 * 1024 * 1024  # a reply to the gateway's own request (`fetch`) is read whole
RETRYABLE_METHODS: frozenset[str] = frozenset({"GET", "HEAD"})
KEEPALIVE_S = 30.0  # an idle upstream connection is closed after this long (aiohttp's default too)
# Upstream error-response headers still meaningful after the body is rewritten.
_KEPT_ERROR_HEADERS: tuple[str, ...] = ("Retry-After", "WWW-Authenticate")
# Failures after the head arrived: the answer is unusable, the connection too.
_BROKEN_BODY = (UpstreamTimeout, UpstreamDropped, IncompleteBody, MalformedResponse)


class UpstreamClient:
    """Forwards DDM requests upstream; owns one keep-alive connection pool from start to close."""

    def __init__(self, base_url: str, auth: UpstreamAuth, *, connect_timeout_s: float, timeout_s: float,
                 retry_idempotent: bool = True, max_connections: int = 256,
                 max_body_bytes: int = MAX_SIGNED_BODY_BYTES) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError(f"upstream.url: not an http(s) URL: {base_url!r}")
        self._prefix = url.raw_path.rstrip("/")
        self._host = url.host_port_subcomponent or url.raw_host
        self._auth = auth
        # connect_timeout_s: the TCP (and TLS) connect (502 when exceeded); timeout_s: silence
        # while waiting for or reading the answer (504). No total: a long healthy download is fine.
        self._new_pool = partial(
            UpstreamPool, url.raw_host, url.port or (443 if url.scheme == "https" else 80),
            tls=ssl.create_default_context() if url.scheme == "https" else None,
            connect_timeout_s=connect_timeout_s, timeout_s=timeout_s, max_connections=max_connections,
            keepalive_s=KEEPALIVE_S)
        self._retry_idempotent = retry_idempotent
        self._max_body_bytes = max_body_bytes
        self._pool: UpstreamPool | None = None

    @property
    def needs_body(self) -> bool:
        """True when the upstream auth signs the body: pass `forward(body=...)` bytes if you have them
        (forward reads it itself, bounded by `max_body_bytes`, when given None)."""
        return self._auth.needs_body

    async def start(self) -> None:
        self._pool = self._new_pool()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._auth.close()

    async def forward(self, request: web.Request, *, body: bytes | None, request_id: str,
                      project_id: str | None, client_ip: str, legacy_errors: bool,
                      extra_headers: Sequence[tuple[str, str]] = ()) -> web.StreamResponse:
        """Send `request` upstream and answer with DDM's response (errors normalized).

        `extra_headers` (the gateway's RateLimit headers) are added to the response before it is
        prepared, since a streamed response cannot take headers afterwards."""
        if body is None and self._auth.needs_body and request.body_exists:
            body = await self._read_whole_body(request)
        out = await self._auth.apply(self._outgoing(request, body, request_id, project_id, client_ip))
        streamed = out.body is None and request.body_exists
        upstream = await self._send(out, request.content.iter_any() if streamed else None)
        try:
            if upstream.status == 401:
                self._auth.rejected(out)
            if upstream.status >= 400:
                response = await self._error_response(upstream, request_id, legacy_errors)
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
        upstream = await self._send(out, None)
        try:
            if upstream.status == 401:
                self._auth.rejected(out)
            if upstream.status >= 400:
                return await self._error_response(upstream, request_id, legacy_errors)
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

    async def _send(self, out: OutgoingRequest, stream: AsyncIterable[bytes] | None) -> Response:
        pool = self._require_pool()
        target = out.raw_path + ("?" + out.raw_query if out.raw_query else "")
        replayable = stream is None
        attempts = 2 if self._retry_idempotent and replayable and out.method in RETRYABLE_METHODS else 1
        for attempt in range(1, attempts + 1):
            try:
                return await pool.exchange(out.method, target, out.headers, body=out.body, stream=stream)
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

    async def _error_response(self, upstream: Response, request_id: str, legacy: bool) -> web.Response:
        try:
            raw = await upstream.read_capped(MAX_ERROR_BODY_BYTES)
        except UpstreamTimeout as err:
            raise GatewayError.of("gateway_timeout") from err
        except _BROKEN_BODY:
            raw = b""  # the status line already says what happened; the body is a bonus
        text = decode_content(raw, value_of(upstream.headers, "Content-Encoding"), MAX_ERROR_BODY_BYTES)
        body = normalize_error(upstream.status, value_of(upstream.headers, "Content-Type"), text,
                               request_id=request_id, legacy=legacy)
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
        except _BROKEN_BODY as err:
            return await self._cut_short(request, upstream, request_id, extra_headers, err)
        headers = CIMultiDict((*response_headers(upstream.headers, request_id=request_id, drop_length=True),
                               *extra_headers))
        return web.Response(status=upstream.status, reason=upstream.reason, body=payload, headers=headers)

    async def _stream_back(self, request: web.Request, upstream: Response, request_id: str,
                           extra_headers: Sequence[tuple[str, str]]) -> web.StreamResponse:
        response = _stream_response(upstream, request_id, extra_headers)
        await response.prepare(request)
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


def _stream_response(upstream: Response, request_id: str,
                     extra_headers: Sequence[tuple[str, str]]) -> web.StreamResponse:
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    for name, value in response_headers(upstream.headers, request_id=request_id):
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
