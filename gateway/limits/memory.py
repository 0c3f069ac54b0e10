"""The in-process store: a thin async shell over the pure limiter, lockout and revocation log.

The default for a single replica and the per-replica fallback when Redis is down. Nothing here
awaits, so each call is atomic with respect to other coroutines on the loop.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

from .lockout import FailureLockout
from .model import LimitDecision, LimitRule, RuleState, whole_seconds
from .once import OnceKeys
from .revocations import RevocationLog
from .sliding_window import SlidingWindowLimiter


class MemoryStore:
    degraded = False    # this store is the configured one (ResilientStore says when it falls back)
    bounds_calls = False   # never waits on anything: nothing to bound

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limiter = SlidingWindowLimiter()
        self._lockout = FailureLockout()
        self._revocations = RevocationLog()
        self._once = OnceKeys()

    @property
    def tracked_keys(self) -> int:
        """Keys currently held (rate logs and failure streaks): bounded by recent activity."""
        return len(self._limiter) + len(self._lockout)

    async def acquire(self, rules: Sequence[LimitRule], *, lock_key: str | None = None) -> LimitDecision:
        now = self._clock()
        if lock_key is not None:
            locked_for = self._lockout.lock_remaining(lock_key, now)
            if locked_for > 0:
                return LimitDecision(False, None, True, locked_for, self._limiter.peek(rules, now),
                                     whole_seconds(locked_for))
            self._lockout.clear(lock_key)
        return self._limiter.acquire(rules, now)

    async def peek(self, rules: Sequence[LimitRule]) -> tuple[RuleState, ...]:
        return self._limiter.peek(rules, self._clock())

    async def record_failure(self, key: str, *, threshold: int = 5, lock_s: float = 300.0) -> bool:
        return self._lockout.record_failure(key, self._clock(), threshold=threshold, lock_s=lock_s)

    async def lock_remaining(self, key: str) -> float:
        return self._lockout.lock_remaining(key, self._clock())

    async def clear_failures(self, key: str) -> None:
        self._lockout.clear(key)

    async def revoke(self, token_id: str, ttl_s: float) -> None:
        self._revocations.revoke(token_id, ttl_s, self._clock())

    async def revoked_since(self, cursor: float) -> tuple[list[str], float]:
        return self._revocations.since(cursor, self._clock())

    async def claim_once(self, key: str, *, ttl_s: float) -> bool:
        return self._once.claim(key, ttl_s, self._clock())

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
