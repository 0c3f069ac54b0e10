"""Stage 4: every budget that applies to the request, in one store round trip.

The built-in budgets (per user, overall) and each matching `limits.rules` entry are checked and
recorded together (`Runtime.rules` says which apply). The same round trip also carries the AK
lockout authn decides on (authn's `lock_key_of` and `locked`: five bad signatures lock an AK for
five minutes) and resets its failure count on success, so the successful path costs no extra
store call. A request with a body had its lock judged by authn before the body was read. Report-mode rules never refuse; when one would have,
the access log, the audit log and /metrics say so.
"""
from __future__ import annotations

from functools import lru_cache

from ..errors import GatewayError
from ..limits import LimitDecision, LimitRule, StoreUnavailable
from ..principal import Principal
from ..services import Services
from ..authn.authenticator import lock_key_of
from ..authn.failures import locked
from ..notes import RequestNotes

Headers = tuple[tuple[str, str], ...]
# How the 429 names a budget (Huawei APIG: "policy user ...", "policy api ..." for the global one).
POLICY_NAMES = {"user": "user", "global": "api"}
UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))


async def rate_limit(principal: Principal, action: str, services: Services, notes: RequestNotes) -> Headers:
    rules = services.runtime.rules.for_request(principal, action)
    lock_key = lock_key_of(principal)
    try:
        decision = await services.store.acquire(rules, lock_key=lock_key)
    except StoreUnavailable:
        raise GatewayError.of("store_unavailable") from None
    if decision.locked:
        raise locked()
    headers = ratelimit_headers(rules, decision)
    if not decision.allowed:
        raise throttled(rules, decision, headers, services)
    if decision.would_reject:
        note_would_reject(principal, action, decision.would_reject, services, notes)
    return headers


def throttled(rules: tuple[LimitRule, ...], decision: LimitDecision, headers: Headers,
              services: Services) -> GatewayError:
    """429 APIGW.0308 naming the refusing budget, its limit and its window, with Retry-After."""
    name = decision.rejected_by or "unknown"
    services.observability.metrics.ratelimit_rejections.inc(name)
    index = next(i for i, rule in enumerate(rules) if rule.name == name)
    message = (f"The throttling threshold has been reached: policy {POLICY_NAMES.get(name, name)} over ratelimit,"
               f"limit:{decision.states[index].limit},time:{window_text(rules[index].window_s)}")
    return GatewayError.of("throttled", message,
                           headers=headers + (("Retry-After", str(max(1, decision.retry_after_s))),))


def note_would_reject(principal: Principal, action: str, names: tuple[str, ...], services: Services,
                      notes: RequestNotes) -> None:
    notes.ratelimit_would_reject = names
    observability = services.observability
    for name in names:
        observability.metrics.ratelimit_would_reject.inc(name)
    observability.audit_would_reject(notes.request_id, principal, action, names)


def window_text(window_s: float) -> str:
    """Huawei's `time:` form: "1 minute", "1 second"; whole hours and days as such."""
    seconds = int(window_s)
    for size, unit in UNITS:
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")


def ratelimit_headers(rules: tuple[LimitRule, ...], decision: LimitDecision) -> Headers:
    """IETF httpapi RateLimit headers: every enforced budget that applied, and the tightest one's
    remaining budget. Report-mode rules bind nothing, so they are not announced."""
    states = decision.states
    tightest = None
    for rule, state in zip(rules, states):
        if not rule.report and (tightest is None or state.remaining < tightest.remaining):
            tightest = state
    assert tightest is not None   # the built-in budgets are always enforced
    reset = int(tightest.reset_s + 0.999)   # whole seconds, rounded up; never below zero
    return (("RateLimit-Policy", policy_header(rules, tuple([state.limit for state in states]))),
            ("RateLimit", f'"{tightest.name}";r={tightest.remaining};t={reset if reset > 0 else 0}'))


@lru_cache(maxsize=1024)
def policy_header(rules: tuple[LimitRule, ...], limits: tuple[int, ...]) -> str:
    """The same for every request with these budgets (limits: the store's, scaled on a fallback)."""
    return ", ".join([f'"{rule.name}";q={limit};w={int(rule.window_s)}'
                      for rule, limit in zip(rules, limits) if not rule.report])
