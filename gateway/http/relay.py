"""The last response phase: an UpstreamResponse written to the client.

A whole body goes out in ONE write (status line, headers and body: web.Response); a stream is
written as it arrives. Hop-by-hop headers are dropped and the gateway's request id added here
(proxy/headers.py decides which); `extra_headers` (the RateLimit headers) join before the head
is sent, since a streamed response cannot take headers afterwards. The answer's connection is
released whatever happens.
"""
from __future__ import annotations

import logging
from typing import Sequence

from aiohttp import web

from ..proxy.answer import BodyBroken, UpstreamResponse
from ..proxy.headers import response_headers

log = logging.getLogger(__name__)


async def relay(request: web.Request, answer: UpstreamResponse, request_id: str,
                extra_headers: Sequence[tuple[str, str]] = ()) -> web.StreamResponse:
    try:
        if answer.body is not None:
            # pairs, not a CIMultiDict: web.Response builds its own from whatever it is given
            headers = response_headers(answer.headers, request_id=request_id, drop_length=True, extra=extra_headers)
            return web.Response(status=answer.status, reason=answer.reason, body=answer.body, headers=headers)
        return await _stream(request, answer, request_id, extra_headers)
    finally:
        answer.release()


async def _stream(request: web.Request, answer: UpstreamResponse, request_id: str,
                  extra_headers: Sequence[tuple[str, str]]) -> web.StreamResponse:
    """A chunked or close-delimited body is re-framed by the server: a Content-Length the upstream
    sent beside Transfer-Encoding (RFC 9112 6.3: the intermediary removes it) would make the
    client cut the body short, or read the next reply as part of it."""
    response = web.StreamResponse(status=answer.status, reason=answer.reason)
    response.headers.extend(response_headers(answer.headers, request_id=request_id, drop_length=answer.reframed,
                                             extra=extra_headers))
    await response.prepare(request)
    if answer.broken is not None:
        return _cut(request, response, answer.broken)
    if answer.chunks is None:
        await response.write_eof()
        return response
    try:
        async for chunk in answer.chunks:
            await response.write(chunk)
    except BodyBroken as err:
        return _cut(request, response, err)
    except ConnectionResetError:
        # The client went away mid-body: nothing left to send to anyone; the release closes the
        # half-read upstream connection.
        log.info("client disconnected mid-response")
        return response
    await response.write_eof()
    return response


def _cut(request: web.Request, response: web.StreamResponse, err: Exception) -> web.StreamResponse:
    """Headers are gone already: the only honest signal left is a cut connection."""
    log.warning("upstream failed mid-response (%s); closing the client connection", _kind(err))
    if request.transport is not None:
        request.transport.close()
    return response


def _kind(err: Exception) -> str:
    """The upstream failure's own kind (BodyBroken wraps it)."""
    cause = err.__cause__ if isinstance(err, BodyBroken) else err
    return type(cause if cause is not None else err).__name__
