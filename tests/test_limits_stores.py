"""One suite, every store: the same decisions in process and from Redis (one node, Sentinel, Cluster).

Time is a fake clock; the Redis store passes it to the Lua script in place of the server's
`TIME`, so exact window boundaries are tested without sleeping.
"""
from __future__ import annotations

import asyncio
import random
from typing import AsyncIterator

import pytest

from gateway.limits import LimitDecision, LimitRule, LimitStore, MemoryStore
from tests.test_limits_support import FakeClock, make_store


URL_FIXTURES = {"redis": "redis_url", "sentinel": "sentinel_url", "cluster": "cluster_url"}


@pytest.fixture(params=["memory", "redis", "sentinel", "cluster"])
def store_kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The Redis store on one node, behind Sentinel and on a Cluster: one suite for all."""
    url = request.getfixturevalue(URL_FIXTURES[request.param]) if request.param in URL_FIXTURES else None
    return request.param, url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(store_kind: tuple[str, str | None], clock: FakeClock) -> AsyncIterator[LimitStore]:
    kind, url = store_kind
    created = make_store(kind, clock, url)
    yield created
    await created.close()


def user(limit: int, key: str = "u1", window_s: float = 60.0) -> LimitRule:
    return LimitRule("user", key, limit, window_s)


def everyone(limit: int) -> LimitRule:
    return LimitRule("global", "global", limit)


async def test_exact_rolling_window(store: LimitStore, clock: FakeClock) -> None:
    start = clock.now
    for offset in (0, 10, 20):
        clock.now = start + offset
        assert (await store.acquire([user(3)])).allowed
    clock.now = start + 30
    refused = await store.acquire([user(3)])
    assert (refused.allowed, refused.rejected_by, refused.retry_after_s) == (False, "user", 30)
    clock.now = start + 59.999
    assert not (await store.acquire([user(3)])).allowed
    clock.now = start + 60  # the hit from `start` leaves exactly now
    assert (await store.acquire([user(3)])).allowed
    clock.now = start + 60.5
    refused = await store.acquire([user(3)])
    assert refused.retry_after_s == 10  # the hit at +10 leaves at +70: 9.5 s, rounded up


async def test_states_report_remaining_and_reset(store: LimitStore, clock: FakeClock) -> None:
    first = await store.acquire([user(3), everyone(10)])
    assert first.allowed and first.rejected_by is None and first.retry_after_s == 0
    assert [(s.name, s.limit, s.remaining) for s in first.states] == [("user", 3, 2), ("global", 10, 9)]
    assert first.states[0].reset_s == pytest.approx(60.0)
    clock.advance(15)
    second = await store.acquire([user(3), everyone(10)])
    assert [s.remaining for s in second.states] == [1, 8]
    assert second.states[0].reset_s == pytest.approx(45.0)


async def test_untouched_rule_reports_empty(store: LimitStore) -> None:
    decision = await store.acquire([user(0)])
    assert not decision.allowed and decision.rejected_by == "user"
    assert decision.states[0].remaining == 0 and decision.states[0].reset_s == 0.0
    assert decision.retry_after_s == 60


async def test_rejected_requests_consume_nothing(store: LimitStore, clock: FakeClock) -> None:
    rules = [user(2), everyone(100)]
    for _ in range(2):
        assert (await store.acquire(rules)).allowed
    for _ in range(20):
        refused = await store.acquire(rules)
        assert refused.rejected_by == "user"
        assert refused.states[1].remaining == 98  # the global budget did not pay for refusals
    clock.advance(60)
    outcomes = [(await store.acquire(rules)).allowed for _ in range(3)]
    assert outcomes == [True, True, False]  # refusals did not extend the user's window either


async def test_global_refusal_does_not_charge_the_user(store: LimitStore) -> None:
    assert (await store.acquire([user(5, "a"), everyone(1)])).allowed
    refused = await store.acquire([user(5, "b"), everyone(1)])
    assert refused.rejected_by == "global" and refused.states[0].remaining == 5


async def test_global_limit_across_users(store: LimitStore, clock: FakeClock) -> None:
    allowed = []
    for i in range(8):
        decision = await store.acquire([user(3, f"user-{i % 4}"), everyone(5)])
        allowed.append(decision.allowed)
        if not decision.allowed:
            assert decision.rejected_by == "global"
        clock.advance(1)
    assert allowed == [True] * 5 + [False] * 3
    clock.now += 60 - 8  # the first global hit leaves the window
    assert (await store.acquire([user(3, "user-9"), everyone(5)])).allowed


async def test_first_rejecting_rule_is_reported(store: LimitStore) -> None:
    await store.acquire([user(1), everyone(1)])
    refused = await store.acquire([user(1), everyone(1)])
    assert refused.rejected_by == "user"


async def test_stores_agree_on_a_random_workload(store: LimitStore, clock: FakeClock) -> None:
    """Against a brute-force model: accept iff every rule saw fewer than `limit` hits in the
    open-closed window (now - w, now]."""
    rng = random.Random(7)
    accepted: dict[str, list[float]] = {}
    for _ in range(150):
        clock.advance(rng.choice([0.0, 0.25, 1.0, 3.0, 7.5]))
        rules = [user(3, f"u{rng.randrange(3)}", 10.0), LimitRule("global", "g", 6, 10.0)]
        counts = [sum(1 for t in accepted.get(r.key, []) if t > clock.now - r.window_s) for r in rules]
        expected = all(c < r.limit for c, r in zip(counts, rules))
        decision = await store.acquire(rules)
        assert decision.allowed is expected
        if expected:
            for r in rules:
                accepted.setdefault(r.key, []).append(clock.now)


async def test_five_failures_lock_for_five_minutes(store: LimitStore, clock: FakeClock) -> None:
    for _ in range(4):
        assert await store.record_failure("ak:X") is False
    assert await store.lock_remaining("ak:X") == 0.0
    assert await store.record_failure("ak:X") is True
    assert await store.lock_remaining("ak:X") == pytest.approx(300.0)
    clock.advance(299)
    assert await store.record_failure("ak:X") is True  # failing while locked does not extend
    assert await store.lock_remaining("ak:X") == pytest.approx(1.0)
    clock.advance(1)
    assert await store.lock_remaining("ak:X") == 0.0


async def test_locked_key_consumes_nothing(store: LimitStore, clock: FakeClock) -> None:
    for _ in range(5):
        await store.record_failure("ak:X")
    decision: LimitDecision = await store.acquire([user(2)], lock_key="ak:X")
    assert decision.locked and not decision.allowed and decision.rejected_by is None
    assert decision.lock_remaining_s == pytest.approx(300.0) and decision.retry_after_s == 300
    assert decision.states[0].remaining == 2
    clock.advance(300)
    assert (await store.acquire([user(2)], lock_key="ak:X")).allowed


async def test_success_breaks_the_failure_streak(store: LimitStore) -> None:
    for _ in range(4):
        await store.record_failure("ak:X")
    assert (await store.acquire([user(10)], lock_key="ak:X")).allowed
    for _ in range(4):
        assert await store.record_failure("ak:X") is False
    await store.clear_failures("ak:X")
    for _ in range(4):
        assert await store.record_failure("ak:X") is False


async def test_clear_failures_lifts_a_lock(store: LimitStore) -> None:
    for _ in range(3):
        await store.record_failure("user:bob", threshold=3, lock_s=60)
    assert await store.lock_remaining("user:bob") == pytest.approx(60.0)
    await store.clear_failures("user:bob")
    assert await store.lock_remaining("user:bob") == 0.0


async def test_failure_streak_is_forgotten_after_lock_time(store: LimitStore, clock: FakeClock,
                                                          store_kind: tuple[str, str | None]) -> None:
    if store_kind[0] != "memory":
        pytest.skip("Redis forgets a streak through a real-time TTL: see test_limits_redis.py")
    for _ in range(4):
        await store.record_failure("ak:Y", lock_s=300)
    clock.advance(301)
    assert await store.record_failure("ak:Y", lock_s=300) is False


async def test_revocations_flow_by_cursor(store: LimitStore, clock: FakeClock) -> None:
    ids, cursor = await store.revoked_since(0.0)
    assert ids == []
    await store.revoke("jti-a", 100)
    await store.revoke("jti-b", 10)
    ids, cursor = await store.revoked_since(0.0)
    assert sorted(ids) == ["jti-a", "jti-b"]
    assert await store.revoked_since(cursor) == ([], cursor)
    await store.revoke("jti-c", 100)
    ids, cursor2 = await store.revoked_since(cursor)
    assert ids == ["jti-c"] and cursor2 > cursor
    clock.advance(11)  # jti-b's token has expired: no need to remember it
    ids, _ = await store.revoked_since(0.0)
    assert sorted(ids) == ["jti-a", "jti-c"]


async def test_cursor_from_a_previous_store_life_starts_over(store: LimitStore) -> None:
    await store.revoke("jti-a", 100)
    ids, _ = await store.revoked_since(1_000_000.0)
    assert ids == ["jti-a"]


async def test_ping(store: LimitStore) -> None:
    assert await store.ping() is True


async def test_a_key_is_claimed_once_per_ttl(store: LimitStore, clock: FakeClock) -> None:
    """SET NX PX: the replay guard's primitive. Redis keeps the TTL on its own clock, so the
    expiry half of this test runs on the memory store's injected clock only."""
    assert await store.claim_once("sig-a", ttl_s=60) is True
    assert await store.claim_once("sig-a", ttl_s=60) is False
    assert await store.claim_once("sig-b", ttl_s=60) is True
    if isinstance(store, MemoryStore):
        clock.advance(61)
        assert await store.claim_once("sig-a", ttl_s=60) is True
    else:   # a 50 ms TTL is certainly over after 300 ms, however loaded the machine
        assert await store.claim_once("sig-c", ttl_s=0.05) is True
        await asyncio.sleep(0.3)
        assert await store.claim_once("sig-c", ttl_s=0.05) is True
