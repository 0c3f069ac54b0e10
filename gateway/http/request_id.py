"""Stage 1 (the edge): every request gets an id, taken from the client when well-formed, its
RequestHead is built (once: http/head.py), and the final response is counted and access-logged."""
from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import time
from typing import Awaitable, Callable

from aiohttp import web

from ..errors import GatewayError
from ..notes import RequestNotes
from ..observability.access import log_access
from ..request import RequestHead
from ..services import SERVICES
from .head import request_head
from .respond import error_response

log = logging.getLogger("ddm_gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A route handler at the edge: the aiohttp request (for its body and transport) and its head.
EdgeHandler = Callable[[web.Request, RequestHead], Awaitable[web.StreamResponse]]
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
NOTES = web.RequestKey("notes", RequestNotes)


def notes_of(request: web.Request) -> RequestNotes:
    notes = request.get(NOTES)
    if notes is None:   # only when a handler runs without the request-id stage (unit tests)
        notes = request[NOTES] = RequestNotes(request_id="")
    return notes


def choose_request_id(header: str | None) -> str:
    if header and _WELL_FORMED.fullmatch(header):
        return header
    return new_request_id()


def new_request_id() -> str:
    """32 random hex digits, like uuid4().hex but without a getrandom() syscall per request.
    An id must be unique, not secret (clients may pick their own); `random`'s module-level
    generator is seeded from the OS and re-seeded in every forked child, so workers never share."""
    return "%032x" % random.getrandbits(128)


def with_request_id(handler: EdgeHandler) -> Handler:
    """Wraps a route handler: starts the request's notes with its id, builds its RequestHead
    (the source IP from the current config's trusted proxies), echoes the id as X-Request-Id,
    answers stray errors in the documented shape, and logs the final response.

    A wrapper, not an aiohttp middleware: an app with any middleware makes aiohttp add its own
    (`_fix_request_current_app`) and look the chain up for every request, two coroutine layers
    that cost more than this whole stage. Every route, the DDM catch-all included, is wrapped
    (http/app.py), so no request reaches a handler without it."""
    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        rid = choose_request_id(request.headers.get("X-Request-Id"))
        notes = request[NOTES] = RequestNotes(request_id=rid)
        try:
            trusted = request.app[SERVICES].runtime.config.listen.trusted_proxies
            head = request_head(request, rid, trusted)
            notes.source_ip, notes.path = head.source_ip, head.raw_path
            response = await handler(request, head)
        except GatewayError as err:
            response = error_response(err, rid, legacy=False)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = error_response(_from_http_exception(exc), rid, legacy=False)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:  # a bug must still answer in the documented shape, and be logged once
            log.exception("unexpected error (request id %s)", rid)
            response = error_response(GatewayError.of("internal"), rid, legacy=False)
        response.headers["X-Request-Id"] = rid
        log_access(request, response, notes, started)
        return response
    return handle


def _from_http_exception(exc: web.HTTPException) -> GatewayError:
    kinds = {404: "not_found", 405: "not_found", 413: "too_large", 414: "uri_too_large"}
    kind = kinds.get(exc.status, "bad_request" if exc.status < 500 else "internal")
    return GatewayError.of(kind)
