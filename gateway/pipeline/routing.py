"""Stage 2: which DDM operation this is, from the one shared path canonicalization; path
parameters outside their allowed form (routes.yaml `parameter_forms`) are 400 here."""
from __future__ import annotations

from aiohttp import web

from policies import RouteCatalog, RouteMatch
from signer import PathError, path_segments

from ..errors import GatewayError


def route_request(request: web.Request, catalog: RouteCatalog) -> RouteMatch:
    raw_path = request.raw_path.split("?", 1)[0]
    try:
        segments = path_segments(raw_path)
    except PathError as err:
        raise GatewayError.of("bad_request", f"Bad request path: {err}") from None
    # The catalog's convention keeps the empty segment before the first "/".
    match = catalog.match(request.method, ("",) + segments)
    if match is None:
        raise GatewayError.of("not_found")
    if match.bad_parameter is not None:   # a dot-segment, a backslash...: refused before the action counts
        raise GatewayError.of("bad_request",
                              f"Bad request path: path parameter {match.bad_parameter} is malformed")
    return match
