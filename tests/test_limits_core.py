"""The pure cores: exactness against a brute-force model, bounded memory, no I/O imports."""
from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.limits import LimitRule, MemoryStore, SlidingWindowLimiter
from gateway.limits.lockout import FailureLockout
from gateway.limits.model import scaled_rules
from gateway.limits.revocations import RevocationLog
from tests.test_limits_support import FakeClock

PURE_MODULES = ("model", "sliding_window", "expiry", "lockout", "revocations", "breaker")
IO_MODULES = {"asyncio", "redis", "aiohttp", "time", "socket"}
LIMITS_DIR = Path(__file__).resolve().parents[1] / "gateway" / "limits"


def test_pure_cores_import_no_io() -> None:
    for name in PURE_MODULES:
        tree = ast.parse((LIMITS_DIR / f"{name}.py").read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.level == 0}
        assert not imported & IO_MODULES, (name, imported & IO_MODULES)


# Dyadic gaps keep the arithmetic exact, so the model and the limiter see the same boundaries.
steps = st.lists(st.tuples(st.sampled_from([0.0, 0.125, 0.5, 1.0, 2.5, 9.875, 10.0]),
                           st.sampled_from(["a", "b", "c"])), max_size=120)


@settings(max_examples=150, deadline=None)
@given(steps=steps, user_limit=st.integers(0, 4), global_limit=st.integers(1, 8))
def test_limiter_matches_brute_force(steps: list[tuple[float, str]], user_limit: int, global_limit: int) -> None:
    """Accepted iff fewer than `limit` accepted hits in (now - window, now] for every rule; and
    then no window of any key ever holds more than `limit` accepted hits."""
    limiter, now, accepted = SlidingWindowLimiter(), 0.0, {}
    for gap, who in steps:
        now += gap
        rules = [LimitRule("user", who, user_limit, 10.0), LimitRule("global", "*", global_limit, 10.0)]
        in_window = [sum(1 for t in accepted.get(r.key, []) if t > now - 10.0) for r in rules]
        decision = limiter.acquire(rules, now)
        assert decision.allowed is all(c < r.limit for c, r in zip(in_window, rules))
        if decision.allowed:
            for r in rules:
                accepted.setdefault(r.key, []).append(now)
            assert [s.remaining for s in decision.states] == [r.limit - c - 1 for c, r in zip(in_window, rules)]
        else:
            refusing = next(r for c, r in zip(in_window, rules) if c >= r.limit)
            assert decision.rejected_by == refusing.name and decision.retry_after_s >= 1
            wait = decision.retry_after_s  # after waiting that long, the refusing rule has room
            assert sum(1 for t in accepted.get(refusing.key, []) if t > now + wait - 10.0) < max(refusing.limit, 1) \
                or refusing.limit == 0


def test_retry_after_is_the_time_until_a_slot_frees() -> None:
    limiter = SlidingWindowLimiter()
    rule = LimitRule("user", "u", 2, 60.0)
    limiter.acquire([rule], 0.0)
    limiter.acquire([rule], 30.2)
    assert limiter.acquire([rule], 40.0).retry_after_s == 20  # the hit at 0 leaves at 60
    assert limiter.acquire([rule], 59.5).retry_after_s == 1


def test_a_lowered_limit_applies_at_once() -> None:
    limiter = SlidingWindowLimiter()
    for t in range(5):
        limiter.acquire([LimitRule("user", "u", 10, 60.0)], float(t))
    refused = limiter.acquire([LimitRule("user", "u", 2, 60.0)], 5.0)
    assert not refused.allowed and refused.states[0].remaining == 0
    assert refused.retry_after_s == 58  # 3 of the 5 hits must leave: the one at t=3, at 63


async def test_hundred_thousand_users_are_forgotten() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    for i in range(100_000):
        await store.acquire([LimitRule("user", f"user-{i}", 60), LimitRule("global", "global", 10**6)])
        if i % 1000 == 0:
            clock.advance(0.001)
    assert store.tracked_keys == 100_001
    clock.advance(61)
    for i in range(2000):  # ordinary traffic sweeps the idle keys a bounded amount per call
        await store.acquire([LimitRule("user", "active", 10**6), LimitRule("global", "global", 10**6)])
    assert store.tracked_keys == 2


async def test_each_key_holds_at_most_limit_timestamps() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    rule = LimitRule("user", "u", 3)
    for _ in range(100):
        await store.acquire([rule])
        clock.advance(1)
    assert max(len(log.hits) for table in store._limiter._tables.values()  # noqa: SLF001
               for log in table.values()) <= 3


def test_failure_streaks_are_forgotten() -> None:
    lockout = FailureLockout()
    for i in range(10_000):
        lockout.record_failure(f"ak-{i}", 0.0, threshold=5, lock_s=300)
    lockout.record_failure("late", 301.0, threshold=5, lock_s=300)
    for _ in range(200):
        lockout.record_failure("late", 301.0, threshold=10**6, lock_s=300)
    assert len(lockout) == 1


def test_revocations_are_forgotten_after_token_expiry() -> None:
    log = RevocationLog()
    for i in range(1000):
        log.revoke(f"jti-{i}", 10, float(i) / 100)
    log.revoke("fresh", 10, 100.0)
    assert len(log) == 1 and log.since(0, 100.0)[0] == ["fresh"]


def test_replicas_divide_limits_rounding_up() -> None:
    rules = [LimitRule("user", "u", 60), LimitRule("global", "g", 8000), LimitRule("ip", "i", 1)]
    assert [r.limit for r in scaled_rules(rules, 3)] == [20, 2667, 1]
    assert scaled_rules(rules, 1) == tuple(rules)
