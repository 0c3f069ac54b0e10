"""The proxy stage: one keep-alive connection pool (pool.py, http1.py) that forwards requests to DDM.

Method, path and query go upstream byte for byte (the client's signature and DDM's routing both
depend on them); the body is streamed unless the upstream auth mode signs it. The client only
talks upstream: `forward(OutgoingRequest)` returns an UpstreamResponse (answer.py) and never sees
the aiohttp request or response (pipeline/forward.py builds the request, the response phases
normalize and relay the answer). A small success with a known length is read whole (the relay
sends it in one write), anything else is a stream; errors (>= 400) are read up to a cap, decoded
and scrubbed of the gateway's credentials for the normalize phase. Failures to reach DDM become
GatewayError 502 / 504, and only GET/HEAD are ever retried (once, and only when the upstream sent
nothing back), so a POST reaches DDM at most once.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from functools import partial
from typing import AsyncIterable, AsyncIterator, Iterable, NamedTuple

from yarl import URL

from ..errors import GatewayError
from .admission import Admission, PoolBusy
from .answer import BodyBroken, UpstreamResponse
from .bodies import decode_content
from .env_proxy import proxy_for
from .headers import request_headers, value_of, without_reflections
from .http1 import IncompleteBody, Response, UpstreamDropped, UpstreamTimeout
from .http1_head import (FRAMING_CHUNKED, FRAMING_CLOSE, FRAMING_LENGTH, FRAMING_NONE, GET_METHODS,
                         InvalidRequest, MalformedResponse)
from .normalize import MAX_ERROR_BODY_BYTES
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
        """True when the upstream auth signs the body: the OutgoingRequest must carry it as bytes
        (read by the caller, at most `max_body_bytes`), never as a stream."""
        return self._auth.needs_body

    @property
    def max_body_bytes(self) -> int:
        """The largest body the upstream auth signs (APIG's limit; more is 413)."""
        return self._max_body_bytes

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

    def outgoing(self, method: str, raw_path: str, raw_query: str, headers: Iterable[tuple[str, str]], *,
                 body: bytes | None, streamed_length: int | None, request_id: str, project_id: str | None,
                 client_ip: str, proto: str, original_host: str) -> OutgoingRequest:
        """The request DDM gets for a client's (plain values in): its method, path and query byte
        for byte under the upstream prefix, its headers cleaned (headers.py) plus the proxy's
        own. `body` None with `streamed_length`: the body is streamed, of that declared length
        (None: chunked). Not yet signed: `forward` applies the upstream auth."""
        cleaned = request_headers(
            headers, keep_credentials=self._auth.keeps_client_credentials, upstream_host=self._host,
            request_id=request_id, client_ip=client_ip, proto=proto, original_host=original_host,
            content_length=streamed_length if body is None else None)
        if body is not None and not body and method in GET_METHODS:
            body = None  # a GET without a body stays without one (no Content-Length: 0 added)
        return OutgoingRequest(method, self._prefix + raw_path, raw_query, cleaned, body, project_id)

    async def forward(self, out: OutgoingRequest, *, stream: AsyncIterable[bytes] | None = None,
                      route: str | None = None) -> UpstreamResponse:
        """Sign `out` (the upstream auth mode), send it (retried per RETRYABLE_METHODS), and return
        DDM's answer: a small success with a known length and every error read whole, anything
        else as a stream the caller relays. `stream`: the client's body, when `out.body` is None
        and there is one. `route` (the DDM operation) is the connection share the request counts
        against: one slow route cannot hold every upstream connection. The caller releases the
        answer."""
        out = await self._auth.apply(out)
        upstream = await self._send(out, stream, route)
        try:
            secrets = self._checked(upstream, out)
            if upstream.status >= 400:
                answer = await self._error_answer(upstream, secrets)
            else:
                answer = await self._success_answer(upstream)
        except BaseException:
            upstream.release()
            raise
        return answer

    async def fetch(self, raw_path: str, raw_query: str, *, request_id: str,
                    project_id: str | None) -> UpstreamResponse:
        """A GET of the gateway's own (an instance's enterprise project, the pages of a list the
        response stage filters), sent with the gateway's upstream credentials whatever the
        caller's. The answer is read whole (at most FETCHED_BODY_MAX_BYTES, else 502); errors as
        in `forward` (the caller normalizes them); failures to reach DDM are the same 502 / 504.
        Holds no connection: nothing to release."""
        headers = (("Host", self._host), ("Accept", "application/json"), ("X-Request-Id", request_id))
        out = await self._auth.apply(OutgoingRequest("GET", self._prefix + raw_path, raw_query, headers,
                                                     None, project_id))
        upstream = await self._send(out, None, None)   # counts towards the total only
        try:
            secrets = self._checked(upstream, out)
            if upstream.status >= 400:
                return (await self._error_answer(upstream, secrets))._replace(release=_no_release)
            try:
                raw = await upstream.read_capped(FETCHED_BODY_MAX_BYTES + 1)
            except UpstreamTimeout as err:
                raise GatewayError.of("gateway_timeout") from err
            except _BROKEN_BODY as err:
                raise _unavailable(out, err) from err
            encoding = value_of(upstream.headers, "Content-Encoding")
            if len(raw) > FETCHED_BODY_MAX_BYTES or (encoding or "identity").lower() != "identity":
                raise _unavailable(out, ValueError("reply too large or encoded"))
            return UpstreamResponse(upstream.status, upstream.reason, upstream.headers, body=raw)
        finally:
            upstream.release()

    def _checked(self, upstream: Response, out: OutgoingRequest) -> tuple[str, ...]:
        """The gateway's secrets `out` carried, after dropping header lines that echo one; a 401
        tells the auth mode its credential is no good."""
        secrets = self._auth.credentials(out)
        if secrets:
            _drop_reflections(upstream, secrets)
        if upstream.status == 401:
            self._auth.rejected(out)
        return secrets

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

    async def _error_answer(self, upstream: Response, secrets: tuple[str, ...]) -> UpstreamResponse:
        """An error's body, read up to a cap and decoded, for the normalize phase; a body that
        broke off is empty (the status line already says what happened)."""
        try:
            raw = await upstream.read_capped(MAX_ERROR_BODY_BYTES)
        except UpstreamTimeout as err:
            raise GatewayError.of("gateway_timeout") from err
        except _BROKEN_BODY:
            raw = b""
        text = _scrubbed(decode_content(raw, value_of(upstream.headers, "Content-Encoding"), MAX_ERROR_BODY_BYTES),
                         secrets)
        return UpstreamResponse(upstream.status, upstream.reason, upstream.headers, body=text,
                                release=upstream.release, scrub=partial(_scrubbed, secrets=secrets))

    async def _success_answer(self, upstream: Response) -> UpstreamResponse:
        """Nearly every DDM answer is small with a Content-Length: read whole, so the relay sends
        status line, headers and body in ONE write. HEAD/204/304 and large or unknown-length
        bodies are streamed."""
        head = upstream.head
        if head.framing != FRAMING_LENGTH or (head.content_length or 0) > BUFFERED_RESPONSE_MAX_BYTES:
            upstream.stream_body()
            chunks = None if head.framing == FRAMING_NONE else _relayable(upstream.iter_chunks())
            return UpstreamResponse(upstream.status, upstream.reason, upstream.headers, chunks=chunks,
                                    reframed=head.framing in (FRAMING_CHUNKED, FRAMING_CLOSE),
                                    release=upstream.release)
        try:
            payload = await upstream.read_all()
        except UpstreamTimeout as err:   # nothing sent yet, and the exchange's deadline is over
            raise GatewayError.of("gateway_timeout") from err
        except _BROKEN_BODY as err:
            # The body broke off after a good head: the relay answers the head, then cuts the
            # connection, as a streamed reply would have (a truncated body, never a fake success).
            return UpstreamResponse(upstream.status, upstream.reason, upstream.headers, broken=err,
                                    release=upstream.release)
        return UpstreamResponse(upstream.status, upstream.reason, upstream.headers, body=payload,
                                release=upstream.release)

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
    """`data` with every one of the gateway's own secrets replaced by REDACTED."""
    for secret in secrets:
        data = data.replace(secret.encode("utf-8", "surrogateescape"), REDACTED)
    return data


async def _relayable(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body's chunks, with every way of breaking off as one BodyBroken for the relay."""
    try:
        async for chunk in chunks:
            yield chunk
    except _BROKEN_BODY as err:
        raise BodyBroken(type(err).__name__) from err


def _no_release() -> None:
    """A fetched answer was read whole and its connection given back already."""


def _unavailable(out: OutgoingRequest, err: Exception) -> GatewayError:
    """502 APIGW.0201: DDM could not be reached, or answered with something unusable."""
    log.warning("upstream unavailable: %s %s (%s)", out.method, out.raw_path, type(err).__name__)
    return GatewayError.of("bad_gateway")
