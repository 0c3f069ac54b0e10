"""Redis with a safety net: a per-call deadline, a circuit breaker and a policy for outages.

`on_failure: open` keeps serving from a per-replica in-process store whose limits are the shared
ones divided by the replica count, so N replicas together stay near the shared budget;
`closed` raises `StoreUnavailable` at once (the gateway answers 503). Either way no request waits
on a dead Redis for longer than one deadline, and only while the breaker is still closed.

The 50 ms deadline itself is the primary's (`RedisStore(timeout_s=0.05)` bounds each pipelined
batch from the moment it is sent, and grants more time when the process itself was busy:
`deadline.py`), so time a call spends behind a busy event loop is not blamed on Redis.
`timeout_s` here is only a backstop for primaries that do not bound themselves (a primary
declaring `bounds_calls = True` gets none: one deadline per batch, not a second timer per call).

Token revocation never falls back: a revocation only one replica knows about would be a lie, so
it fails loudly and callers keep the ids they already have.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Sequence, TypeVar

from .breaker import CircuitBreaker
from .memory import MemoryStore
from .model import LimitDecision, LimitRule, LimitStore, RuleState, StoreUnavailable, scaled_rules

T = TypeVar("T")
ON_FAILURE_POLICIES = ("open", "closed")
FAILURES = (StoreUnavailable, TimeoutError, OSError)
log = logging.getLogger("ddm_gateway.store")


def error_kind(exc: BaseException) -> str:
    """The `kind` label of ddmgw_store_errors_total: timeout, connection, or unavailable (the
    store answered, but not usably: refused auth, an error reply...)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError):
        return "connection"
    return "unavailable"


class ResilientStore:
    bounds_calls = True   # every call runs under the primary's deadline or this layer's timeout_s

    def __init__(self, primary: LimitStore, *, on_failure: str = "open", fallback: LimitStore | None = None,
                 replicas: int = 1, clock: Callable[[], float] = time.monotonic,
                 breaker_open_s: float = 1.0, timeout_s: float = 0.2,
                 on_error: Callable[[str], None] | None = None) -> None:
        if on_failure not in ON_FAILURE_POLICIES:
            raise ValueError(f"on_failure must be one of {ON_FAILURE_POLICIES}, not {on_failure!r}")
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self._primary = primary
        self._fallback: LimitStore = fallback if fallback is not None else MemoryStore()
        self._falls_back = on_failure == "open"
        self._replicas = replicas
        self._clock = clock
        self._timeout_s = timeout_s
        # A primary that bounds every call itself (RedisStore: one deadline per pipelined batch)
        # gets no second timer per call here: that was a timer per request on the hot path.
        self._primary_bounds_calls = primary.bounds_calls
        self._breaker = CircuitBreaker(breaker_open_s)
        self._on_error = on_error   # told the kind of every failed call (the store error metric)

    @property
    def degraded(self) -> bool:
        """True while the breaker is open: answers come from the fallback, or are refused."""
        return self._breaker.is_open

    async def acquire(self, rules: Sequence[LimitRule], *, lock_key: str | None = None) -> LimitDecision:
        """Every request's call. While the breaker is closed over a primary that bounds its own
        calls, the primary is awaited here directly (no closures, no `_call` coroutine to
        suspend and resume per request), with `_call`'s bookkeeping; otherwise `_call`."""
        breaker = self._breaker
        if breaker.is_open or not self._primary_bounds_calls:
            return await self._call(lambda s: s.acquire(rules, lock_key=lock_key), self._scaled_acquire(rules, lock_key))
        try:
            decision = await self._primary.acquire(rules, lock_key=lock_key)
        except FAILURES as exc:
            self._failed(exc)
            return await self._instead(self._scaled_acquire(rules, lock_key), True)
        except BaseException:
            breaker.abandoned()   # as in `_call`: no verdict on the store's health
            raise
        if breaker.is_open:   # opened by another call meanwhile: this success closes it
            breaker.succeeded()
        return decision

    def _scaled_acquire(self, rules: Sequence[LimitRule],
                        lock_key: str | None) -> Callable[[LimitStore], Awaitable[LimitDecision]]:
        """`acquire` on the fallback, whose budgets are this replica's share of the shared ones."""
        return lambda s: s.acquire(scaled_rules(rules, self._replicas), lock_key=lock_key)

    async def peek(self, rules: Sequence[LimitRule]) -> tuple[RuleState, ...]:
        return await self._call(lambda s: s.peek(rules),
                                lambda s: s.peek(scaled_rules(rules, self._replicas)))

    async def record_failure(self, key: str, *, threshold: int = 5, lock_s: float = 300.0) -> bool:
        return await self._call(lambda s: s.record_failure(key, threshold=threshold, lock_s=lock_s))

    async def lock_remaining(self, key: str) -> float:
        return await self._call(lambda s: s.lock_remaining(key))

    async def clear_failures(self, key: str) -> None:
        await self._call(lambda s: s.clear_failures(key))

    async def revoke(self, token_id: str, ttl_s: float) -> None:
        await self._call(lambda s: s.revoke(token_id, ttl_s), may_fall_back=False)

    async def revoked_since(self, cursor: float) -> tuple[list[str], float]:
        return await self._call(lambda s: s.revoked_since(cursor), may_fall_back=False)

    async def claim_once(self, key: str, *, ttl_s: float) -> bool:
        """Falls back like the limits: a per-replica memory of claims while Redis is down."""
        return await self._call(lambda s: s.claim_once(key, ttl_s=ttl_s))

    async def ping(self) -> bool:
        """Readiness probe; doubles as the half-open probe so recovery needs no traffic.
        True while degraded under `open` (the replica still serves), False under `closed`."""
        try:
            return await self._call(lambda s: s.ping())
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self._primary.close()
        await self._fallback.close()

    def _opened(self, exc: BaseException) -> None:
        """Opens (or re-opens) the breaker; logged once per opening, never with the URL."""
        if not self._breaker.is_open:
            reason = str(exc) if isinstance(exc, StoreUnavailable) else type(exc).__name__
            log.warning("shared store failed (%s): breaker open, %s", reason,
                        "serving from the per-replica fallback" if self._falls_back else "refusing")
        self._breaker.failed(self._clock())

    async def _call(self, on_primary: Callable[[LimitStore], Awaitable[T]],
                    on_fallback: Callable[[LimitStore], Awaitable[T]] | None = None,
                    *, may_fall_back: bool = True) -> T:
        breaker = self._breaker
        if not breaker.is_open or breaker.allow(self._clock()):   # a closed breaker needs no clock
            try:
                if self._primary_bounds_calls:
                    result = await on_primary(self._primary)
                else:
                    async with asyncio.timeout(self._timeout_s):
                        result = await on_primary(self._primary)
            except FAILURES as exc:
                self._failed(exc)
            except BaseException:
                breaker.abandoned()  # cancelled or a bug: no verdict on the store's health
                raise
            else:
                if breaker.is_open:   # a closed breaker is not probing either: nothing to reset
                    breaker.succeeded()
                return result
        return await self._instead(on_fallback or on_primary, may_fall_back)

    def _failed(self, exc: BaseException) -> None:
        """A call the primary failed: counted (the store error metric), and the breaker opens."""
        if self._on_error is not None:
            self._on_error(error_kind(exc))
        self._opened(exc)

    async def _instead(self, on_fallback: Callable[[LimitStore], Awaitable[T]], may_fall_back: bool) -> T:
        """What a call the primary did not answer gets: the fallback's answer, or the refusal."""
        if self._falls_back and may_fall_back:
            return await on_fallback(self._fallback)
        raise StoreUnavailable("the shared store is unavailable")
