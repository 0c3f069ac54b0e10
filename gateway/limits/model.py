"""The vocabulary every limiter store speaks: rules in, one decision out.

Kept free of asyncio and redis so the pure cores and the gateway can share it; the `LimitStore`
protocol is the one seam between the request pipeline and wherever the counters live. The value
types are NamedTuples: immutable like frozen dataclasses, but built several times per request at
a third of the cost (a frozen dataclass sets each field through object.__setattr__).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Protocol, Sequence


class LimitRule(NamedTuple):
    """At most `limit` accepted hits for `key` in any rolling `window_s` seconds."""

    name: str  # "user" | "global" | "ip" | a configured rule's name: what headers and 429s report
    key: str
    limit: int
    window_s: float = 60.0
    report: bool = False  # report mode: recorded while it has room, never refuses (would_reject)


class RuleState(NamedTuple):
    """One rule's budget after a request, as the RateLimit header needs it."""

    name: str
    limit: int
    remaining: int
    reset_s: float  # until the oldest counted hit leaves the window; 0 when nothing is counted
    free_s: float = 0.0  # until one more hit would fit: 0 while remaining > 0


class LimitDecision(NamedTuple):
    allowed: bool
    rejected_by: str | None  # the first rule that refused; None when allowed or locked
    locked: bool  # the lock_key was locked: nothing was checked or consumed
    lock_remaining_s: float
    states: tuple[RuleState, ...]  # one per rule, in rule order, after this request
    retry_after_s: int  # whole seconds until the refusing rule frees a slot; 0 when allowed
    would_reject: tuple[str, ...] = ()  # report-mode rules that had no room (allowed requests only)


class StoreUnavailable(Exception):
    """The store could not answer in time and policy says not to guess (on_failure: closed)."""


class LimitStore(Protocol):
    @property
    def degraded(self) -> bool:
        """True while serving on a fallback instead of the configured store (ResilientStore)."""
        ...

    @property
    def bounds_calls(self) -> bool:
        """True when every call carries its own deadline (RedisStore: one per pipelined batch),
        so a wrapper (ResilientStore) adds no second timer per call."""
        ...

    async def acquire(self, rules: Sequence[LimitRule], *, lock_key: str | None = None) -> LimitDecision: ...

    async def peek(self, rules: Sequence[LimitRule]) -> tuple[RuleState, ...]:
        """The budgets as `acquire` would see them now, recording nothing (the usage endpoint)."""
        ...

    async def record_failure(self, key: str, *, threshold: int = 5, lock_s: float = 300.0) -> bool: ...

    async def lock_remaining(self, key: str) -> float: ...

    async def clear_failures(self, key: str) -> None: ...

    async def revoke(self, token_id: str, ttl_s: float) -> None: ...

    async def claim_once(self, key: str, *, ttl_s: float) -> bool:
        """True the first time `key` is claimed within `ttl_s` (SET NX PX), False after."""
        ...

    async def revoked_since(self, cursor: float) -> tuple[list[str], float]: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def whole_seconds(seconds: float) -> int:
    """Retry-After is whole seconds, rounded up so a client that waits exactly that long succeeds."""
    return max(0, math.ceil(seconds - 1e-9))


def scaled_rules(rules: Sequence[LimitRule], divisor: int) -> tuple[LimitRule, ...]:
    """Each replica's share of a shared budget: ceil(limit / replicas), never below one."""
    if divisor <= 1:
        return tuple(rules)
    return tuple(r._replace(limit=max(1, math.ceil(r.limit / divisor))) for r in rules)
