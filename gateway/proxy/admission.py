"""Who may use an upstream connection: a total cap, a per-route share, a bounded queue.

Like Envoy's circuit breakers: at most `total` requests in flight; at most `max_pending` waiting
(one more is refused at once); a waiter gives up after `wait_s`. And a share per route: one route
(a DDM action) holds at most `per_route` slots, so a slow route fills its share and queues there,
while every other route still finds free connections. Requests without a route count only
towards the total.

Invariant: whenever a slot is free, no waiter that may take it is left waiting (`_hand_over`
runs on every release), so a new request that finds an eligible free slot takes it directly.
"""
from __future__ import annotations

import asyncio
from collections import deque


class PoolBusy(Exception):
    """No connection within the pool wait, or the queue is full: answered 503 at once."""


class Admission:
    """Slot accounting on the event loop thread (no locks: every step is synchronous)."""

    def __init__(self, *, total: int, per_route: int, max_pending: int, wait_s: float) -> None:
        self._total = total
        self._per_route = min(per_route, total)
        self._max_pending = max_pending
        self._wait_s = wait_s
        self._in_use = 0
        self._by_route: dict[str, int] = {}
        self._waiters: deque[tuple[str | None, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def pending(self) -> int:
        return sum(1 for _, waiter in self._waiters if not waiter.done())

    def _eligible(self, route: str | None) -> bool:
        return self._in_use < self._total and (route is None or self._by_route.get(route, 0) < self._per_route)

    def _take(self, route: str | None) -> None:
        self._in_use += 1
        if route is not None:
            self._by_route[route] = self._by_route.get(route, 0) + 1

    def try_acquire(self, route: str | None) -> bool:
        """Take a slot now if one may be taken (the common case: no coroutine, no future)."""
        if self._in_use >= self._total:
            return False
        if route is not None:
            held = self._by_route.get(route, 0)
            if held >= self._per_route:
                return False
            self._by_route[route] = held + 1
        self._in_use += 1
        return True

    async def acquire(self, route: str | None, loop: asyncio.AbstractEventLoop) -> None:
        """A slot, waiting in line for at most `wait_s`; PoolBusy when the line is full or the
        wait is over."""
        if self.try_acquire(route):
            return
        if len(self._waiters) >= self._max_pending:
            raise PoolBusy("pending requests at their cap")
        waiter: asyncio.Future[None] = loop.create_future()
        entry = (route, waiter)
        self._waiters.append(entry)
        timer = loop.call_later(self._wait_s, _give_up, waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(route)     # handed a slot, then cancelled: pass it on
            raise
        finally:
            timer.cancel()
            if not waiter.done() or waiter.cancelled() or waiter.exception() is not None:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass

    def release(self, route: str | None) -> None:
        self._in_use -= 1
        if route is not None:
            left = self._by_route[route] - 1
            if left:
                self._by_route[route] = left
            else:
                del self._by_route[route]
        self._hand_over()

    def _hand_over(self) -> None:
        """Give free slots to the longest waiters whose route is under its share."""
        if not self._waiters:
            return
        kept: deque[tuple[str | None, asyncio.Future[None]]] = deque()
        for route, waiter in self._waiters:
            if waiter.done():
                continue
            if self._eligible(route):
                self._take(route)
                waiter.set_result(None)
            else:
                kept.append((route, waiter))
        self._waiters = kept


def _give_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(PoolBusy("no upstream connection within the pool wait"))
