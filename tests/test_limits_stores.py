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


def report(name: str, key: str, limit: int, window_s: float = 60.0) -> LimitRule:
    return LimitRule(name, key, limit, window_s, report=True)


async def test_many_rules_with_their_own_windows(store: LimitStore, clock: FakeClock) -> None:
    """A second, an hour and a day side by side: each window rolls exactly on its own."""
    rules = [LimitRule("burst", "b", 2, 1.0), LimitRule("hourly", "h", 3, 3600.0),
             LimitRule("daily", "d", 4, 86400.0)]
    assert [(await store.acquire(rules)).allowed for _ in range(3)] == [True, True, False]
    refused = await store.acquire(rules)
    assert refused.rejected_by == "burst" and refused.retry_after_s == 1
    clock.advance(1)
    assert (await store.acquire(rules)).allowed           # the hourly budget's third hit
    clock.advance(1)
    refused = await store.acquire(rules)
    assert refused.rejected_by == "hourly" and refused.retry_after_s == 3600 - 2
    assert [s.remaining for s in refused.states] == [2, 0, 1]
    assert refused.states[1].free_s == pytest.approx(3598.0)
    clock.advance(3598)                                    # both hits of t=0 leave the hour
    allowed = await store.acquire(rules)
    assert allowed.allowed and [s.remaining for s in allowed.states] == [1, 1, 0]
    clock.advance(1)
    refused = await store.acquire(rules)
    assert refused.rejected_by == "daily" and refused.retry_after_s == 86400 - 3601
    clock.advance(86400 - 3601)
    assert (await store.acquire(rules)).allowed


async def test_report_rules_never_refuse_and_name_themselves(store: LimitStore, clock: FakeClock) -> None:
    rules = [user(10), report("watch", "w", 2)]
    outcomes = [await store.acquire(rules) for _ in range(5)]
    assert all(d.allowed for d in outcomes)
    assert [d.would_reject for d in outcomes] == [(), (), ("watch",), ("watch",), ("watch",)]
    assert [d.states[0].remaining for d in outcomes] == [9, 8, 7, 6, 5]   # enforced rules still record
    assert outcomes[-1].states[1].remaining == 0 and outcomes[-1].states[1].free_s == pytest.approx(60.0)
    clock.advance(60)   # only the two hits it had room for were recorded: both leave together
    assert [(await store.acquire(rules)).would_reject for _ in range(3)] == [(), (), ("watch",)]


async def test_a_refused_request_records_in_no_rule(store: LimitStore) -> None:
    rules = [user(1), report("watch", "w", 5), LimitRule("team", "t", 10, 3600.0)]
    assert (await store.acquire(rules)).allowed
    for _ in range(5):
        refused = await store.acquire(rules)
        assert refused.rejected_by == "user" and refused.would_reject == ()
    assert [s.remaining for s in await store.peek(rules)] == [0, 4, 9]


async def test_peek_records_nothing_and_agrees_with_acquire(store: LimitStore, clock: FakeClock) -> None:
    rules = [user(3, window_s=10.0), LimitRule("team", "t", 5, 3600.0)]
    assert [s.remaining for s in await store.peek(rules)] == [3, 5]
    for _ in range(3):
        await store.acquire(rules)
        clock.advance(1)
    for _ in range(3):
        peeked = await store.peek(rules)
    assert [s.remaining for s in peeked] == [0, 2]
    assert peeked[0].free_s == pytest.approx(7.0) and peeked[1].free_s == 0.0
    refused = await store.acquire(rules)
    assert refused.rejected_by == "user" and refused.retry_after_s == 7
    clock.advance(7)
    assert (await store.acquire(rules)).allowed


async def test_report_rules_agree_on_a_random_workload(store: LimitStore, clock: FakeClock) -> None:
    """Brute force with a report rule: it records only while it has room, and it is named exactly
    when an allowed request finds it full."""
    rng = random.Random(11)
    accepted: dict[str, list[float]] = {}
    for _ in range(150):
        clock.advance(rng.choice([0.0, 0.5, 1.0, 4.0]))
        rules = [user(4, f"u{rng.randrange(2)}", 10.0), report("watch", "w", 3, 5.0),
                 LimitRule("team", "t", 6, 20.0)]
        counts = {r.key: sum(1 for t in accepted.get(r.key, []) if t > clock.now - r.window_s) for r in rules}
        expected = all(counts[r.key] < r.limit for r in rules if not r.report)
        decision = await store.acquire(rules)
        assert decision.allowed is expected
        full = expected and counts["w"] >= 3
        assert decision.would_reject == (("watch",) if full else ())
        if expected:
            for r in rules:
                if not (r.report and full):
                    accepted.setdefault(r.key, []).append(clock.now)


async def test_a_lowered_limit_frees_a_slot_when_enough_hits_have_left(store: LimitStore, clock: FakeClock) -> None:
    """A reload may lower a limit below what a budget already holds: the next slot frees when the
    hit `limit` places from the newest leaves, not the oldest."""
    for _ in range(3):
        assert (await store.acquire([user(5)])).allowed
        clock.advance(10)
    [state] = await store.peek([user(2)])
    assert (state.remaining, state.reset_s, state.free_s) == (0, pytest.approx(30.0), pytest.approx(40.0))
    refused = await store.acquire([user(2)])
    assert refused.rejected_by == "user" and refused.retry_after_s == 40
    clock.advance(40)
    assert (await store.acquire([user(2)])).allowed


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
