"""Stage 4: one budget per user and one for everybody, in one store round trip.

The same round trip also refuses a locked AK (five bad signatures lock it for five minutes) and
resets its failure count on success, so the successful path costs nothing extra.
"""
from __future__ import annotations

from ..errors import GatewayError
from ..limits import LimitDecision, LimitRule, StoreUnavailable
from ..principal import Principal
from ..services import Services
from .authenticate import lock_key_of, unauthorized

Headers = tuple[tuple[str, str], ...]


async def rate_limit(principal: Principal, services: Services) -> Headers:
    limits = services.runtime.config.limits
    per_user = limits.users.get(principal.user_name, limits.per_user_per_minute)
    rules = (LimitRule("user", principal.limit_key, per_user),
             LimitRule("global", "global", limits.global_per_minute))
    lock_key = lock_key_of(principal)
    try:
        decision = await services.store.acquire(rules, lock_key=lock_key)
    except StoreUnavailable:
        raise GatewayError.of("store_unavailable") from None
    if decision.locked:
        raise unauthorized("AK access failed to reach the limit,forbidden.")
    headers = ratelimit_headers(decision)
    if not decision.allowed:
        services.observability.metrics.ratelimit_rejections.inc(decision.rejected_by or "unknown")
        limit = next(s.limit for s in decision.states if s.name == decision.rejected_by)
        policy = "user" if decision.rejected_by == "user" else "api"
        message = (f"The throttling threshold has been reached: policy {policy} over ratelimit,"
                   f"limit:{limit},time:1 minute")
        raise GatewayError.of("throttled", message,
                              headers=headers + (("Retry-After", str(max(1, decision.retry_after_s))),))
    return headers


def ratelimit_headers(decision: LimitDecision) -> Headers:
    """IETF httpapi RateLimit headers: every policy, and the tightest one's remaining budget."""
    states = decision.states
    policy = ", ".join([f'"{s.name}";q={s.limit};w=60' for s in states])
    tightest = states[0]
    for state in states:
        if state.remaining < tightest.remaining:
            tightest = state
    reset = max(0, int(tightest.reset_s + 0.999))
    return (("RateLimit-Policy", policy),
            ("RateLimit", f'"{tightest.name}";r={tightest.remaining};t={reset}'))
