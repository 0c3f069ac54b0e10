"""The edge's short cut to the catch-all (gateway/http/dispatch.py) answers as aiohttp would.

Two copies of one small app (exact routes and a catch-all, as the public app has) are served on
real sockets by the gateway's EdgeRunner, one through its EdgeDispatch, one (its catch-all not
registered for the short cut) through aiohttp's own resolution; every raw request hypothesis
makes up is sent to both, and the answers (route, match info, app) must be the same. The short
cut's conditions are then pinned one by one (the dot-segment and empty-segment ones are
conservative: this aiohttp resolves such targets as written, a later one might not), and the
public app itself is checked to be served through it.
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings, strategies as st

from gateway.http.connections import EDGE_LIMITS, EdgeLimits, EdgeRunner
from gateway.http.dispatch import CATCH_ALL, EdgeDispatch

from .harness import ServerThread, config_data

EXACT = ("/v3/auth/tokens", "/v3/projects", "/ddm-gateway/v1/usage")


def small_app(*, short_cut: bool = True) -> web.Application:
    app = web.Application()
    app[EDGE_LIMITS] = EdgeLimits()

    def answer(route: str):  # type: ignore[no-untyped-def]
        async def handler(request: web.Request) -> web.Response:
            same_app = request.app is app and request.match_info.apps == (app,)
            return web.Response(text=f"{route} {dict(request.match_info)!r} {same_app} {request.method}")
        return handler

    app.router.add_post(EXACT[0], answer("tokens"))
    app.router.add_get(EXACT[1], answer("projects"))
    app.router.add_get(EXACT[2], answer("usage"))
    catch_all = app.router.add_route("*", "/{tail:[\\s\\S]*}", answer("catch-all"))
    if short_cut:
        app[CATCH_ALL] = catch_all
    return app


class Pair:
    """The same app behind the edge dispatch and behind aiohttp's resolution."""

    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []
        self.ports: list[int] = []

    async def start(self) -> None:
        for runner in (EdgeRunner(small_app(), access_log=None), EdgeRunner(small_app(short_cut=False),
                                                                             access_log=None)):
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.runners.append(runner)
            self.ports.append(int(runner.addresses[0][1]))

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


async def exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """The final status line, and the body of a 200 (a refusal's carries a random request id)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        raw = await asyncio.wait_for(reader.read(-1), 5)
    finally:
        writer.close()
    raw = raw.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    return status, body if status == b"HTTP/1.1 200 OK" else b""


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    servers = Pair()
    await servers.start()
    yield servers
    await servers.close()


async def test_edge_runner_serves_through_the_dispatch(pair: Pair) -> None:
    assert isinstance(pair.runners[0].server.request_handler, EdgeDispatch)   # type: ignore[union-attr]
    assert not isinstance(pair.runners[1].server.request_handler, EdgeDispatch)   # type: ignore[union-attr]


segment = st.text(alphabet="aAv1._-~%2F#=&?é:@!$", max_size=6)
target = st.one_of(
    st.builds(lambda parts: "/" + "/".join(parts), st.lists(segment, max_size=4)),
    st.builds(lambda exact, rest: exact + rest, st.sampled_from(EXACT + ("/v1/p/instances",)),
              st.sampled_from(["", "?", "?a=1", "/", "//", "/.", "/..", "%2F", "#x", "/x"])),
    st.sampled_from(["*", "http://h/v3/projects", "v1/x", "/", "/./v3/projects", "/v3/./projects"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]), raw_target=target,
       expect=st.booleans())
async def test_every_request_gets_the_answer_aiohttp_gives(pair: Pair, method: str, raw_target: str,
                                                            expect: bool) -> None:
    head = f"{method} {raw_target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n"
    request = (head + ("Expect: 100-continue\r\n" if expect else "") + "\r\n").encode("utf-8")
    edge, plain = [await exchange(port, request) for port in pair.ports]
    assert edge == plain


@pytest.fixture(scope="module")
def dispatch() -> EdgeDispatch:
    app = small_app()
    dispatch = EdgeDispatch.for_app(app)
    assert dispatch is not None
    return dispatch


@pytest.mark.parametrize("raw_path, path", [
    ("/v1/p/instances?offset=0&limit=10", "/v1/p/instances"),
    ("/v3/p/instances/i-1/users", "/v3/p/instances/i-1/users"),
    ("/", "/"),
    ("/v3/auth/tokens/", "/v3/auth/tokens/"),   # not the exact path: only the catch-all matches it
])
def test_the_common_targets_take_the_short_cut(dispatch: EdgeDispatch, raw_path: str, path: str) -> None:
    assert dispatch.catch_all_path(raw_path) == path


@pytest.mark.parametrize("raw_path", [
    "/v3/auth/tokens", "/v3/projects?x=1",                 # an exact route's path
    "/v1/p%2Fq/instances", "/v1/%70/instances",             # an escape aiohttp decodes
    "/v1/./p", "/v1/../p", "//v1/p", "/v1/p#frag",          # what URL parsing may rewrite
    "http://host/v1/p", "*", "v1/p", "",                    # not origin-form
    "/v1/pé/instances",                                     # not ASCII
])
def test_anything_aiohttp_may_read_differently_goes_to_aiohttp(dispatch: EdgeDispatch, raw_path: str) -> None:
    assert dispatch.catch_all_path(raw_path) is None


def test_no_short_cut_beside_a_pattern_route() -> None:
    """Only exact paths are known not to match a target by looking it up: a pattern route
    beside the catch-all would need aiohttp's walk, so there is no dispatch at all."""
    async def project(request: web.Request) -> web.Response:
        return web.Response()
    app = small_app()
    app.router.add_get("/v3/projects/{id}", project)
    assert EdgeDispatch.for_app(app) is None
    assert EdgeDispatch.for_app(web.Application()) is None   # no catch-all registered


def test_no_short_cut_past_a_middleware() -> None:
    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        return await handler(request)
    app = small_app()
    app.middlewares.append(middleware)
    assert EdgeDispatch.for_app(app) is None
    sub = small_app()
    sub.add_subapp("/sub", web.Application())
    assert EdgeDispatch.for_app(sub) is None


def test_the_public_app_is_served_through_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.config import parse_config
    from gateway.http.app import create_app
    app = create_app(parse_config(config_data(state_dir=str(tmp_path), upstream_url="http://127.0.0.1:9")))
    servers = ServerThread()
    try:
        servers.serve(app)
        (runner,) = servers._runners
        assert isinstance(runner.server.request_handler, EdgeDispatch)   # type: ignore[union-attr]
    finally:
        servers.close()
