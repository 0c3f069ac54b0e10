"""Per-source-IP limit on failed authentications, at zero cost for good requests.

A failure records a hit in the shared store under the IP's rule; once the IP is over its budget
the replica remembers it locally until the window frees a slot, and later requests from it are
refused before any signature or token is checked (no CPU burnt, no log flood).
"""
from __future__ import annotations

from typing import Callable

from ..errors import GatewayError
from ..limits import LimitRule, LimitStore, StoreUnavailable

MAX_TRACKED_IPS = 10_000


class FailedAuthGuard:
    def __init__(self, store: LimitStore, *, per_minute: int, clock: Callable[[], float]) -> None:
        self._store = store
        self._per_minute = per_minute
        self._clock = clock
        self._blocked_until: dict[str, float] = {}

    def check(self, ip: str) -> None:
        until = self._blocked_until.get(ip)
        if until is None:
            return
        remaining = until - self._clock()
        if remaining <= 0:
            del self._blocked_until[ip]
            return
        raise _too_many(self._per_minute, remaining)

    async def record_failure(self, ip: str) -> None:
        rule = LimitRule("ip", f"authfail:{ip}", self._per_minute)
        try:
            decision = await self._store.acquire([rule])
        except StoreUnavailable:
            return
        if not decision.allowed:
            if len(self._blocked_until) >= MAX_TRACKED_IPS:
                self._blocked_until.clear()
            self._blocked_until[ip] = self._clock() + max(decision.retry_after_s, 1)


def _too_many(limit: int, remaining_s: float) -> GatewayError:
    seconds = max(1, int(remaining_s + 0.999))
    return GatewayError.of(
        "throttled",
        f"The throttling threshold has been reached: policy ip over ratelimit,limit:{limit},time:1 minute",
        headers=(("Retry-After", str(seconds)),),
    )
