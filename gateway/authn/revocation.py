"""Per-replica cache of revoked token ids, pulled from the shared store.

Checking the store on every token request would cost a round trip; instead each replica polls
`revoked_since` every `interval_s` (0.5 s by default), so a revocation reaches every replica
within one second while the hot path stays a set lookup.

Every `resync_s` the cache is rebuilt from the store's full list of live revocations instead:
the store forgets an id once its token would have expired, and so, at the next resync, does every
replica. Without it the set would only grow (any user may revoke tokens at will).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Callable

from ..limits import LimitStore

log = logging.getLogger("ddm_gateway.revocation")


RESYNC_S = 300.0


class RevocationCache:
    def __init__(self, store: LimitStore, *, interval_s: float = 0.5, resync_s: float = RESYNC_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._interval_s = interval_s
        self._resync_s = resync_s
        self._clock = clock
        self._revoked: set[str] = set()
        self._cursor = 0.0
        self._next_resync = 0.0
        self._during_resync: set[str] | None = None   # local revocations while a resync runs
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._revoked)

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._revoked

    async def revoke(self, token_id: str, ttl_s: float) -> None:
        """Revoke locally at once, and for every other replica through the store."""
        self._revoked.add(token_id)
        if self._during_resync is not None:
            self._during_resync.add(token_id)
        await self._store.revoke(token_id, max(ttl_s, 1.0))

    async def refresh(self) -> None:
        """What was revoked since the last pull; every `resync_s`, the whole live list instead."""
        if self._clock() >= self._next_resync:
            await self._resync()
            return
        ids, self._cursor = await self._store.revoked_since(self._cursor)
        self._revoked.update(ids)

    async def _resync(self) -> None:
        self._during_resync = set()
        try:
            ids, cursor = await self._store.revoked_since(0)
            self._revoked = set(ids) | self._during_resync
            self._cursor, self._next_resync = cursor, self._clock() + self._resync_s
        finally:
            self._during_resync = None

    async def start(self) -> None:
        with contextlib.suppress(Exception):
            await self.refresh()
        self._task = asyncio.create_task(self._poll())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # the store is down: keep the ids we have, try again
                log.warning("revocation refresh failed: %s", type(exc).__name__)
