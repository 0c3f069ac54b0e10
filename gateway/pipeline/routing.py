"""Stage 2: which DDM operation this is, from the one shared path canonicalization (the edge's
RequestHead carries the segments); path parameters outside their allowed form (routes.yaml
`parameter_forms`) are 400 here."""
from __future__ import annotations

from policies import RouteCatalog, RouteMatch

from ..errors import GatewayError
from ..request import RequestHead


def route_request(head: RequestHead, catalog: RouteCatalog) -> RouteMatch:
    if head.segments is None:
        raise GatewayError.of("bad_request", f"Bad request path: {head.path_error}")
    # The catalog's convention keeps the empty segment before the first "/".
    match = catalog.match(head.method, ("",) + head.segments)
    if match is None:
        raise GatewayError.of("not_found")
    if match.bad_parameter is not None:   # a dot-segment, a backslash...: refused before the action counts
        raise GatewayError.of("bad_request",
                              f"Bad request path: path parameter {match.bad_parameter} is malformed")
    return match
