"""Response phase (after normalize, before relay): instance lists cut to what the caller may
see, and enterprise projects learned from what DDM answered.

DDM's instance lists take no enterprise-project parameter, so a caller whose decisions depend
on enterprise projects gets a list the gateway assembles: every page of the upstream list,
fetched with the gateway's credentials, filtered item by item (`visible`, one decision per
enterprise project), then paged with the caller's offset/limit and counted again, so paging
through it is consistent. Every other successful answer passes byte for byte.
"""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Callable, Mapping

from policies import EP_CREATE, EP_LIST, EnterpriseProjectScope, RouteMatch

from ..enterprise_projects import EnterpriseProjectCache, instances_in, parse_json
from ..errors import GatewayError
from ..proxy.answer import UpstreamResponse
from ..request import RequestHead, query_of
from ..services import Services
from .enterprise import Placement

UPSTREAM_PAGE = 128              # DDM's largest page (limit 1..128)
DEFAULT_LIMIT = 10               # DDM's default limit for instance lists
MAX_LISTED_INSTANCES = 10_000    # a filtered list reads at most this many upstream instances
PAGE_FIELDS = ("page_no", "page_size", "total_page")


def paging(query: Mapping[str, str]) -> tuple[int, int]:
    """The caller's offset and limit, validated as DDM does (offset >= 0, 1 <= limit <= 128)."""
    offset = _integer(query.get("offset"), 0, "offset", 0, None)
    limit = _integer(query.get("limit"), DEFAULT_LIMIT, "limit", 1, UPSTREAM_PAGE)
    return offset, limit


def _integer(text: str | None, default: int, name: str, low: int, high: int | None) -> int:
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 9 or int(text) < low \
            or (high is not None and int(text) > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise GatewayError.of("bad_request", f"{name} must be an integer {bounds}.")
    return int(text)


async def filtered_list(head: RequestHead, route: RouteMatch, visible: Callable[[str], bool],
                        services: Services) -> tuple[UpstreamResponse, list[str]]:
    """The caller's page of the instances it may see, and the enterprise projects shown. All
    pages together must arrive within the upstream timeout (else 504)."""
    offset, limit = paging(query_of(head))
    upstream = services.runtime.config.upstream
    try:
        async with asyncio.timeout(upstream.timeout_s if upstream is not None else 60.0):
            return await _assemble(head, route, visible, services, offset, limit)
    except TimeoutError:
        raise GatewayError.of("gateway_timeout") from None


async def _assemble(head: RequestHead, route: RouteMatch, visible: Callable[[str], bool],
                    services: Services, offset: int, limit: int) -> tuple[UpstreamResponse, list[str]]:
    scope = route.enterprise_project
    raw_path, request_id = head.raw_path, head.request_id
    documents: list[dict[str, Any]] = []
    first: UpstreamResponse | None = None
    listed = 0
    while True:
        reply = await services.upstream.fetch(raw_path, f"offset={listed}&limit={UPSTREAM_PAGE}",
                                              request_id=request_id, project_id=route.project_id)
        if reply.status >= 300:
            return reply, []           # relayed as it is (an error normalized first)
        document = parse_json(reply.body or b"")
        items = document.get(scope.items) if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise GatewayError.of("bad_gateway", "Backend answered an instance list the gateway cannot read.")
        first = first or reply
        documents.append(document)
        listed += len(items)
        total = _upstream_total(document, scope)
        if len(items) < UPSTREAM_PAGE or (total is not None and listed >= total):
            break
        if listed >= MAX_LISTED_INSTANCES:
            raise GatewayError.of("bad_gateway", "Too many instances to filter.")
    learn_list(services.enterprise_projects.cache, route.project_id, documents, scope)
    body, shown = filter_documents(documents, scope, visible, offset, limit)
    return first.rewritten(body=body, headers=first.headers, reason=first.reason), shown


def _upstream_total(document: dict[str, Any], scope: EnterpriseProjectScope) -> int | None:
    """How many instances DDM says it has; None when it does not say (then pages are read
    until one is not full)."""
    totals = [document.get(name) for name in scope.totals]
    return max((t for t in totals if isinstance(t, int) and not isinstance(t, bool)), default=None)


def filter_documents(documents: list[dict[str, Any]], scope: EnterpriseProjectScope,
                     visible: Callable[[str], bool], offset: int, limit: int) -> tuple[bytes, list[str]]:
    """Pure core: the pages' items (deduplicated by id), those `visible` in their enterprise
    project, the caller's page of them, counts recomputed. Returns the body and the
    enterprise projects shown. An item without a readable enterprise project is never shown."""
    seen: set[str] = set()
    kept: list[Any] = []
    for document in documents:
        for item in document[scope.items]:
            if not isinstance(item, dict):
                continue
            item_id, ep = item.get("id"), item.get("enterprise_project_id")
            if not isinstance(ep, str) or not ep or (isinstance(item_id, str) and item_id in seen):
                continue
            if isinstance(item_id, str):
                seen.add(item_id)
            if visible(ep):
                kept.append(item)
    page = kept[offset:offset + limit]
    rewritten = dict(documents[0])
    rewritten[scope.items] = page
    for name in scope.totals:
        rewritten[name] = len(kept)
    rewritten.update(page_no=offset // limit + 1, page_size=len(page),
                     total_page=math.ceil(len(kept) / limit))
    shown = sorted({item["enterprise_project_id"] for item in page})
    return json.dumps(rewritten, ensure_ascii=False).encode("utf-8"), shown


def learn_list(cache: EnterpriseProjectCache, project_id: str | None, documents: list[dict[str, Any]],
               scope: EnterpriseProjectScope) -> None:
    if project_id is None:
        return
    for document in documents:
        for instance_id, ep in instances_in({scope.items: document.get(scope.items)}, scope.items):
            cache.learn(project_id, instance_id, ep)


def learn_from_answer(route: RouteMatch, answer: UpstreamResponse, placement: Placement,
                      services: Services) -> None:
    """What a successful answer tells about enterprise projects: a show or an (unfiltered) list
    reports instances', a create made one in the enterprise project it was decided in, a delete
    removed one."""
    scope, project_id = route.enterprise_project, route.project_id
    if project_id is None or not 200 <= answer.status < 300:
        return
    cache = services.enterprise_projects.cache
    if scope.forget and route.resource_id is not None:
        cache.forget(project_id, route.resource_id)
        return
    body = answer.body
    if body is None:
        return                                   # streamed: too large to be a show or a create
    if (scope.learn and placement.enterprise_project is None) or scope.kind == EP_LIST:
        for instance_id, ep in instances_in(parse_json(body), scope.items or "instances"):
            cache.learn(project_id, instance_id, ep)
    elif scope.kind == EP_CREATE and placement.enterprise_project is not None:
        document = parse_json(body)
        created = document.get("id") if isinstance(document, dict) else None
        if isinstance(created, str) and created:
            cache.learn(project_id, created, placement.enterprise_project)


def filters_list(route: RouteMatch, placement: Placement) -> bool:
    return placement.anywhere and route.enterprise_project.kind == EP_LIST
