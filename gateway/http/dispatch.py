"""The public app's request handler: aiohttp's router, short-cut where its answer is known.

The public app has a handful of exact paths (the IAM routes, the usage route) and one catch-all
(every DDM route: the pipeline routes by the catalog, pipeline/routing.py). For a request whose
path is none of the exact ones, aiohttp's resolution always ends at the catch-all, but only after
parsing the target into a URL, walking its prefixes back to '/', awaiting a coroutine per
candidate and matching the catch-all's pattern: on the common path that costs about as much as
the request-id stage. `EdgeDispatch` gives such a request the catch-all's match info directly
and leaves every other request to aiohttp (`Application._handle`):

- a target aiohttp might read differently from its raw text: not origin-form, not ASCII,
  with a '%' escape, a dot segment, an empty segment or a fragment;
- an exact path, whatever the method (aiohttp picks its route, or the catch-all for a method
  that route does not take);
- a request with an `Expect` header (the catch-all's expect handler, through aiohttp).

The short cut sets what aiohttp's own `_handle` sets, the same way: the route's match info (its
`tail` as the pattern would have matched it), the app on it, frozen, as the request's
`_match_info` (aiohttp has no public setter; tests/test_edge_dispatch.py fails if that changes).
"""
from __future__ import annotations

from typing import Awaitable

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

CATCH_ALL = web.AppKey("catch_all_route", web.AbstractRoute)


class EdgeDispatch:
    """Calls the catch-all's handler for a request only it can match; aiohttp otherwise."""

    __slots__ = ("_app", "_route", "_handler", "_exact_paths")

    def __init__(self, app: web.Application, catch_all: web.AbstractRoute, exact_paths: frozenset[str]) -> None:
        self._app = app
        self._route = catch_all
        self._handler = catch_all.handler
        self._exact_paths = exact_paths

    @classmethod
    def for_app(cls, app: web.Application) -> "EdgeDispatch | None":
        """For an app that registered its catch-all under CATCH_ALL and has, beside it, only
        exact-path routes and no middleware (checked, not assumed: a pattern route, a sub-app or
        a middleware, which the short cut would pass by, and there is none)."""
        catch_all = app.get(CATCH_ALL)
        if catch_all is None or app.middlewares:
            return None
        exact: set[str] = set()
        for resource in app.router.resources():
            if resource is catch_all.resource:
                continue
            if not isinstance(resource, web.PlainResource):
                return None
            exact.add(resource.canonical)
        return cls(app, catch_all, frozenset(exact))

    def catch_all_path(self, raw_path: str) -> str | None:
        """The path, when aiohttp would resolve a request for `raw_path` to the catch-all by its
        pattern alone (its raw text is the path aiohttp resolves, and no exact route has it)."""
        path = raw_path.partition("?")[0]
        if (path[:1] != "/" or not path.isascii() or "%" in path or "#" in path or "/." in path or "//" in path
                or path in self._exact_paths):
            return None
        return path

    def __call__(self, request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        assert isinstance(request, web.Request)   # what the app's request factory makes
        path = self.catch_all_path(request.raw_path)
        if path is None or hdrs.EXPECT in request.headers:
            return self._app._handle(request)
        match_info = UrlMappingMatchInfo({"tail": path[1:]}, self._route)
        match_info.add_app(self._app)
        match_info.freeze()
        request._match_info = match_info
        return self._handler(request)
