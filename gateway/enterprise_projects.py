"""Which enterprise project an instance is in: learned from DDM's answers, asked for on a miss.

Each replica keeps its own cache (instance -> enterprise project, a TTL and a size bound). It
learns from every list, show and create answer the gateway relays and forgets an instance when
it is deleted through the gateway; two replicas agree because both learn from DDM, the only
source of truth. On a miss the gateway asks DDM itself (show instance, with its own upstream
credentials, bounded by `timeout_s`); concurrent misses for one instance share one lookup.
When DDM cannot say (down, timeout, an unusable answer) the lookup raises the 502/504
GatewayError: a request is never decided without knowing where its instance is.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Iterable, Protocol

from .errors import GatewayError
from .proxy.answer import UpstreamResponse

log = logging.getLogger(__name__)

Key = tuple[str, str]        # (project id, instance id)
LOOKUP_HIT, LOOKUP_MISS, LOOKUP_FAILURE = "hit", "miss", "failure"
MAX_ID_CHARS = 128           # longer ids are never cached (bounded memory per entry)


class EnterpriseProjectCache:
    """(project, instance) -> (enterprise project, expiry); oldest entries go first when full."""

    def __init__(self, *, ttl_s: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[Key, tuple[str, float]] = {}

    def get(self, project_id: str, instance_id: str) -> str | None:
        found = self._entries.get((project_id, instance_id))
        if found is None:
            return None
        if found[1] <= self._clock():
            del self._entries[(project_id, instance_id)]
            return None
        return found[0]

    def learn(self, project_id: str, instance_id: str, enterprise_project_id: str) -> None:
        if len(instance_id) > MAX_ID_CHARS or len(enterprise_project_id) > MAX_ID_CHARS:
            return
        key = (project_id, instance_id)
        self._entries.pop(key, None)            # re-learned: now the newest
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (enterprise_project_id, self._clock() + self._ttl_s)

    def forget(self, project_id: str, instance_id: str) -> None:
        self._entries.pop((project_id, instance_id), None)

    def __len__(self) -> int:
        return len(self._entries)


class Fetcher(Protocol):
    """What a lookup needs of the upstream client (gateway.proxy.client.UpstreamClient.fetch)."""

    async def fetch(self, raw_path: str, raw_query: str, *, request_id: str,
                    project_id: str | None) -> UpstreamResponse: ...


class Counts(Protocol):
    def inc(self, *labels: str, amount: float = 1.0) -> None: ...


class EnterpriseProjectLocator:
    """The cache plus the lookup on a miss; `of_instance` is what the authorize stage asks."""

    def __init__(self, cache: EnterpriseProjectCache, upstream: Fetcher, lookups: Counts, *,
                 timeout_s: float) -> None:
        self.cache = cache
        self._upstream = upstream
        self._lookups = lookups
        self._timeout_s = timeout_s
        self._pending: dict[Key, asyncio.Future[str | None]] = {}

    async def of_instance(self, project_id: str, instance_id: str, request_id: str) -> str | None:
        """The instance's enterprise project; None when DDM says there is no such instance."""
        found = self.cache.get(project_id, instance_id)
        if found is not None:
            self._lookups.inc(LOOKUP_HIT)
            return found
        key = (project_id, instance_id)
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await self._ask(project_id, instance_id, request_id)
        except BaseException as err:
            future.set_exception(err if isinstance(err, GatewayError) else GatewayError.of("bad_gateway"))
            future.exception()           # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._pending[key]

    async def _ask(self, project_id: str, instance_id: str, request_id: str) -> str | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                reply = await self._upstream.fetch(f"/v1/{project_id}/instances/{instance_id}", "",
                                                   request_id=request_id, project_id=project_id)
        except TimeoutError:
            self._lookups.inc(LOOKUP_FAILURE)
            log.warning("enterprise-project lookup timed out (instance %s)", instance_id)
            raise GatewayError.of("gateway_timeout") from None
        except GatewayError:
            self._lookups.inc(LOOKUP_FAILURE)
            raise
        found = lookup_answer(reply.status, reply.body or b"")
        if found is _UNUSABLE:
            self._lookups.inc(LOOKUP_FAILURE)
            log.warning("enterprise-project lookup: DDM answered %s (instance %s)", reply.status, instance_id)
            raise GatewayError.of("bad_gateway")
        self._lookups.inc(LOOKUP_MISS)
        if isinstance(found, str):
            self.cache.learn(project_id, instance_id, found)
            return found
        return None


_UNUSABLE = object()


def lookup_answer(status: int, body: bytes) -> object:
    """DDM's show-instance answer -> the enterprise project (str), None (no such instance: a
    client error such as 404 or 400 for a malformed id) or _UNUSABLE (DDM failed, refused the
    gateway's own credentials, or answered without an enterprise project)."""
    if status in (401, 403) or status >= 500:
        return _UNUSABLE
    if status >= 400:
        return None
    document = parse_json(body)
    found = document.get("enterprise_project_id") if isinstance(document, dict) else None
    return found if isinstance(found, str) and found else _UNUSABLE


def parse_json(body: bytes) -> Any:
    """DDM's answer as JSON, or None when it is not JSON (nested past the interpreter's
    recursion limit counts as not JSON: the answer's size is bounded, its depth is not)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def instances_in(document: Any, items_key: str = "instances") -> Iterable[tuple[str, str]]:
    """(instance id, enterprise project) for each instance a show or list answer reports:
    the document itself (v1 show) and the items of its `items_key` list (lists, v3 show)."""
    if not isinstance(document, dict):
        return
    found = _pair(document)
    if found is not None:
        yield found
    items = document.get(items_key)
    if isinstance(items, list):
        for item in items:
            found = _pair(item)
            if found is not None:
                yield found


def _pair(item: Any) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return None
    instance_id, ep = item.get("id"), item.get("enterprise_project_id")
    if isinstance(instance_id, str) and instance_id and isinstance(ep, str) and ep:
        return instance_id, ep
    return None
