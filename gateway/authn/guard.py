"""Per-source-IP limit on failed authentications, at zero cost for good requests.

A failure records a hit in the shared store under the IP's rule; once the IP is over its budget
the replica remembers it locally until the window frees a slot. While it is, the IP's floods
cost little, yet valid callers behind the same NAT or load balancer keep working:
- a token is accepted only if this replica already verified it once (no new ECDSA check);
- an AK/SK signature is still verified (one HMAC, cheap) and passes when it is right;
- every failure (unknown AK, bad signature, unknown token) is answered 429, not 401;
- a password login, whose check is the deliberately slow scrypt, is refused before it (`check`).
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

    def over_budget(self, ip: str) -> bool:
        return bool(self._blocked_until) and self._remaining(ip) > 0

    def check(self, ip: str) -> None:
        """Refuses (429) anything from an IP over its budget (password logins)."""
        if self._remaining(ip) > 0:
            raise self.refusal(ip)

    def refusal(self, ip: str) -> GatewayError:
        return _too_many(self._per_minute, self._remaining(ip))

    def _remaining(self, ip: str) -> float:
        until = self._blocked_until.get(ip)
        if until is None:
            return 0.0
        remaining = until - self._clock()
        if remaining <= 0:
            del self._blocked_until[ip]
            return 0.0
        return remaining

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
