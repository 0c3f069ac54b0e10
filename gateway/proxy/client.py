"""The proxy stage: one pooled aiohttp client session that forwards requests to DDM.

Method, path and query go upstream byte for byte (the client's signature and DDM's routing both
depend on them); the body is streamed unless the upstream auth mode signs it. Successes come back
streamed and untouched; errors (>= 400) are read up to a cap and normalized. Failures to reach DDM
become GatewayError 502 / 504, and only GET/HEAD are ever retried, so a POST reaches DDM at most
once.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Sequence

import aiohttp
from aiohttp import web
from yarl import URL

from ..errors import JSON_CONTENT_TYPE, GatewayError
from .bodies import BodyTooLarge, decode_content, read_capped, read_limited
from .headers import request_headers, response_headers
from .normalize import MAX_ERROR_BODY_BYTES, normalize_error
from .outgoing import OutgoingRequest, UpstreamAuth

log = logging.getLogger(__name__)

MAX_SIGNED_BODY_BYTES = 12 * 1024 * 1024  # APIG's limit for AK/SK-signed bodies
RETRYABLE_METHODS: frozenset[str] = frozenset({"GET", "HEAD"})
# aiohttp would add these when absent; a proxy must send only what the client (or signer) sent.
_NO_AUTO_HEADERS: tuple[str, ...] = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
# Upstream error-response headers still meaningful after the body is rewritten.
_KEPT_ERROR_HEADERS: tuple[str, ...] = ("Retry-After", "WWW-Authenticate")
_CONNECT_FAILURES = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


class UpstreamClient:
    """Forwards DDM requests upstream; owns one ClientSession (keep-alive pool) from start to close."""

    def __init__(self, base_url: str, auth: UpstreamAuth, *, connect_timeout_s: float, timeout_s: float,
                 retry_idempotent: bool = True, max_connections: int = 256,
                 max_body_bytes: int = MAX_SIGNED_BODY_BYTES) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError(f"upstream.url: not an http(s) URL: {base_url!r}")
        self._origin = str(url.origin())
        self._prefix = url.raw_path.rstrip("/")
        self._host = url.host_port_subcomponent or url.raw_host
        self._auth = auth
        # sock_connect: the TCP connect (502 when exceeded); sock_read: silence while waiting for
        # or reading the answer (504). No total: a long healthy download is fine.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect_timeout_s,
                                              sock_read=timeout_s)
        self._retry_idempotent = retry_idempotent
        self._max_connections = max_connections
        self._max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None

    @property
    def needs_body(self) -> bool:
        """True when the upstream auth signs the body: pass `forward(body=...)` bytes if you have them
        (forward reads it itself, bounded by `max_body_bytes`, when given None)."""
        return self._auth.needs_body

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=_NO_AUTO_HEADERS)
        # aiohttp silently resends idempotent requests (PUT/DELETE too) on a stale pooled
        # connection; retries are this class's decision alone (GET/HEAD, once, configurable).
        self._session._retry_connection = False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
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
        upstream = await self._send(out, request.content if streamed else out.body, replayable=not streamed)
        try:
            if upstream.status == 401:
                self._auth.rejected(out)
            if upstream.status >= 400:
                response = await self._error_response(upstream, request_id, legacy_errors)
                response.headers.extend(extra_headers)
                return response
            return await self._stream_back(request, upstream, request_id, extra_headers)
        finally:
            _finish(upstream)

    def _outgoing(self, request: web.Request, body: bytes | None, request_id: str,
                  project_id: str | None, client_ip: str) -> OutgoingRequest:
        raw_path, raw_query = split_target(request)
        stream_length = request.content_length if body is None and request.body_exists else None
        headers = request_headers(
            request.headers.items(), keep_credentials=self._auth.keeps_client_credentials,
            upstream_host=self._host, request_id=request_id, client_ip=client_ip,
            proto=request.scheme, original_host=request.host, content_length=stream_length)
        if body is not None and not body and request.method in aiohttp.ClientRequest.GET_METHODS:
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

    async def _send(self, out: OutgoingRequest, data: object, *, replayable: bool) -> aiohttp.ClientResponse:
        session = self._require_session()
        url = URL(self._origin + out.raw_path + ("?" + out.raw_query if out.raw_query else ""), encoded=True)
        attempts = 2 if self._retry_idempotent and replayable and out.method in RETRYABLE_METHODS else 1
        for attempt in range(1, attempts + 1):
            try:
                return await session.request(out.method, url, headers=list(out.headers), data=data,
                                             allow_redirects=False)
            except aiohttp.ConnectionTimeoutError as err:  # before the 504 case: same base class
                raise _unavailable(out, err) from err
            except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as err:
                log.warning("upstream timeout: %s %s", out.method, out.raw_path)
                raise GatewayError.of("gateway_timeout") from err
            except _CONNECT_FAILURES as err:
                if attempt == attempts:
                    raise _unavailable(out, err) from err
            except aiohttp.ClientError as err:
                raise _unavailable(out, err) from err
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _error_response(self, upstream: aiohttp.ClientResponse, request_id: str,
                              legacy: bool) -> web.Response:
        try:
            raw = await read_capped(upstream.content, MAX_ERROR_BODY_BYTES)
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as err:
            raise GatewayError.of("gateway_timeout") from err
        except aiohttp.ClientError:
            raw = b""  # the status line already says what happened; the body is a bonus
        text = decode_content(raw, upstream.headers.get("Content-Encoding"), MAX_ERROR_BODY_BYTES)
        body = normalize_error(upstream.status, upstream.headers.get("Content-Type"), text,
                               request_id=request_id, legacy=legacy)
        response = web.Response(status=upstream.status, body=body,
                                headers={"Content-Type": JSON_CONTENT_TYPE, "X-Request-Id": request_id})
        for name in _KEPT_ERROR_HEADERS:
            if name in upstream.headers:
                response.headers[name] = upstream.headers[name]
        return response

    async def _stream_back(self, request: web.Request, upstream: aiohttp.ClientResponse,
                           request_id: str, extra_headers: Sequence[tuple[str, str]]) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in response_headers(upstream.headers.items(), request_id=request_id):
            response.headers.add(name, value)
        response.headers.extend(extra_headers)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            # Headers are gone already: the only honest signal left is a cut connection.
            log.warning("upstream failed mid-response (%s); closing the client connection",
                        type(err).__name__)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamClient.start() was not awaited")
        return self._session


def split_target(request: web.Request) -> tuple[str, str]:
    """The raw path and raw query exactly as the client sent them (no decoding, no re-encoding)."""
    target = request.raw_path
    if not target.startswith("/"):  # absolute-form request target: fall back to the parsed URL
        return request.rel_url.raw_path, request.rel_url.raw_query_string
    path, _, query = target.partition("?")
    return path, query


def _finish(upstream: aiohttp.ClientResponse) -> None:
    """Back to the pool when fully read; otherwise the connection is unusable: close it."""
    if upstream.content.at_eof():
        upstream.release()
    else:
        upstream.close()


def _unavailable(out: OutgoingRequest, err: Exception) -> GatewayError:
    log.warning("upstream unavailable: %s %s (%s)", out.method, out.raw_path, type(err).__name__)
    return GatewayError.of("bad_gateway")
