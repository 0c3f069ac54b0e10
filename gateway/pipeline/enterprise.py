"""Stage 5a (before authorize): where is the resource, as far as the decision needs to know?

The route's enterprise-project scope (policies/routes.yaml `enterprise_project_scopes`) says
how to find it: the enterprise project of the path's instance (cache, else a lookup upstream),
the one a create body names, or none at all. Nothing is looked up for a caller whose decisions
cannot depend on it (no enterprise-project grant, no g:EnterpriseProjectId condition) or for
the domain owner, so the plain pipeline pays one attribute read.
"""
from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from policies import EP_CATALOG, EP_CREATE, EP_INSTANCE, EP_LIST, RouteMatch

from ..errors import GatewayError
from ..grants import CallerGrants
from ..principal import Principal
from ..services import Services

DEFAULT_ENTERPRISE_PROJECT = "0"
# Instance ids are looked up only in this form (DDM's are 32 hex digits + "in09"): the lookup
# and the forwarded request then cannot name different instances, whatever the upstream's own
# decoding of "/", "?", "%" or dot segments. Any other id is an instance no grant contains.
PLAIN_INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class Placement(NamedTuple):
    """`enterprise_project`: the resource's (None: not needed, or the route names none).
    `exists`: False when DDM knows no such instance (denied like any other instance the caller
    may not touch: no existence oracle). `anywhere`: the route names no resource and is allowed
    when any of the caller's policy sets allows it (catalog reads, the gate of a filtered list)."""

    enterprise_project: str | None = None
    exists: bool = True
    anywhere: bool = False


UNPLACED = Placement()
ANYWHERE = Placement(anywhere=True)
NO_SUCH_INSTANCE = Placement(exists=False)


def needs_placement(principal: Principal, grants: CallerGrants) -> bool:
    return grants.depends_on_enterprise_project and not principal.domain_owner


def wants_create_body(route: RouteMatch, principal: Principal, grants: CallerGrants) -> bool:
    """A create decided by its body's enterprise project: the body is read before authorizing
    (the caller is authenticated by then)."""
    return route.enterprise_project.kind == EP_CREATE and needs_placement(principal, grants)


async def place(route: RouteMatch, principal: Principal, grants: CallerGrants, body: bytes | None,
                services: Services, request_id: str) -> Placement:
    """Call only when `needs_placement`: the domain owner and callers whose decisions cannot
    depend on an enterprise project skip this stage (no coroutine, no lookup)."""
    kind = route.enterprise_project.kind
    if kind == EP_INSTANCE and route.project_id is not None and route.resource_id is not None:
        if PLAIN_INSTANCE_ID.fullmatch(route.resource_id) is None:
            return NO_SUCH_INSTANCE
        found = await services.enterprise_projects.of_instance(route.project_id, route.resource_id,
                                                               request_id)
        return NO_SUCH_INSTANCE if found is None else Placement(found)
    if kind == EP_CREATE:
        return Placement(body_enterprise_project(body or b"", route.enterprise_project.body_field))
    if kind in (EP_LIST, EP_CATALOG):
        return ANYWHERE
    return UNPLACED


def body_enterprise_project(body: bytes, path: tuple[str, ...]) -> str:
    """The enterprise project a create body names at `path`; absent or null: "0".

    Duplicate keys anywhere are refused (400): DDM might read another value than this parser,
    and the decision must be about the instance DDM will create."""
    try:
        document: Any = json.loads(body, object_pairs_hook=_unique_keys)
    except (ValueError, UnicodeDecodeError):
        raise GatewayError.of("bad_request", "The request body is not a JSON object.") from None
    for key in path:
        if not isinstance(document, dict):
            raise GatewayError.of("bad_request", "The request body is not a JSON object.")
        document = document.get(key)
        if document is None:
            return DEFAULT_ENTERPRISE_PROJECT
    if not isinstance(document, str) or not document:
        raise GatewayError.of("bad_request", "enterprise_project_id must be a non-empty string.")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate key")
    return found
