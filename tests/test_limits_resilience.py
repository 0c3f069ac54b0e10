"""Redis dies mid-test: per on_failure the gateway keeps limiting locally or refuses fast, never
hangs, reports itself degraded, and goes back to Redis once it returns."""
from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator, Awaitable, TypeVar

import pytest

from gateway.limits import LimitRule, MemoryStore, RedisStore, ResilientStore, StoreUnavailable, create_store
from gateway.limits.breaker import CircuitBreaker
from tests.conftest import RedisServer, free_port

T = TypeVar("T")
# Not a speed target: what this tells apart is an answer within the store's deadlines (50 ms here,
# refused connections fail at once) from a wait on a dead server (for ever, or a connect timeout).
# At 0.2 s, 200 concurrent calls on a busy CI box once took 0.28 s; 1 s still fails any hang.
MAX_CALL_S = 1.0
RULES = [LimitRule("user", "alice", 4), LimitRule("global", "global", 100)]


async def timed(call: Awaitable[T]) -> T:
    started = time.monotonic()
    try:
        return await call
    finally:
        assert time.monotonic() - started < MAX_CALL_S


def resilient(url: str, on_failure: str, replicas: int = 1) -> ResilientStore:
    return ResilientStore(RedisStore(url), on_failure=on_failure, fallback=MemoryStore(),
                          replicas=replicas, breaker_open_s=0.1)


@pytest.fixture
async def revivable(redis_server: RedisServer, redis_url: str) -> AsyncIterator[RedisServer]:
    yield redis_server
    if redis_server.process is None:
        redis_server.start()


async def wait_until_recovered(store: ResilientStore, rules: list[LimitRule]) -> None:
    deadline = time.monotonic() + 5
    while store.degraded and time.monotonic() < deadline:
        await asyncio.sleep(0.11)
        try:
            await timed(store.acquire(rules))
        except StoreUnavailable:
            pass
    assert not store.degraded


async def test_open_falls_back_to_a_divided_local_limit(revivable: RedisServer) -> None:
    store = resilient(revivable.url, "open", replicas=2)
    try:
        assert (await store.acquire(RULES)).allowed
        revivable.stop()
        outcomes = [(await timed(store.acquire(RULES))).allowed for _ in range(4)]
        assert outcomes == [True, True, False, False]  # 4 per minute shared by 2 replicas: 2 here
        assert store.degraded and await timed(store.ping()) is True
        revivable.start()
        await wait_until_recovered(store, [LimitRule("user", "bob", 4)])
        decision = await store.acquire(RULES)
        # Served by the restarted (empty) Redis with the full limit, not the exhausted fallback.
        assert decision.allowed and decision.states[0].limit == 4 and decision.states[0].remaining == 3
    finally:
        await store.close()


async def test_closed_refuses_fast_and_recovers(revivable: RedisServer) -> None:
    store = resilient(revivable.url, "closed")
    try:
        assert (await store.acquire(RULES)).allowed
        revivable.stop()
        for _ in range(20):
            with pytest.raises(StoreUnavailable):
                await timed(store.acquire(RULES))
        assert store.degraded and await timed(store.ping()) is False
        with pytest.raises(StoreUnavailable):
            await timed(store.record_failure("ak:A"))
        revivable.start()
        await wait_until_recovered(store, RULES)
        assert await store.ping() is True
    finally:
        await store.close()


async def test_revocation_never_falls_back(revivable: RedisServer) -> None:
    store = resilient(revivable.url, "open")
    try:
        revivable.stop()
        with pytest.raises(StoreUnavailable):
            await timed(store.revoke("jti", 60))
        with pytest.raises(StoreUnavailable):
            await timed(store.revoked_since(0.0))
        assert await timed(store.record_failure("ak:A")) is False  # lockout does fall back
    finally:
        await store.close()


async def test_a_silent_redis_costs_one_deadline_then_nothing() -> None:
    """A Redis that accepts connections but never answers (a hung host): the first call pays
    the 50 ms deadline, then the open breaker answers without waiting."""
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)

    server = await asyncio.start_server(swallow, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    store = resilient(f"redis://127.0.0.1:{port}/0", "open")
    try:
        started = time.monotonic()
        assert (await store.acquire(RULES)).allowed
        assert 0.04 <= time.monotonic() - started < MAX_CALL_S
        started = time.monotonic()
        for _ in range(50):
            await store.acquire(RULES)
        assert time.monotonic() - started < 0.05
    finally:
        await store.close()
        server.close()


async def test_many_concurrent_calls_on_a_dead_redis_stay_fast(revivable: RedisServer) -> None:
    store = resilient(revivable.url, "open")
    try:
        revivable.stop()
        decisions = await timed(asyncio.gather(*(store.acquire([LimitRule("user", f"u{i}", 5)])
                                                 for i in range(200))))
        assert all(d.allowed for d in decisions)
    finally:
        await store.close()


def test_breaker_opens_probes_once_and_closes() -> None:
    breaker = CircuitBreaker(open_s=1.0)
    assert breaker.allow(0.0)
    breaker.failed(0.0)
    assert not breaker.allow(0.5)
    assert breaker.allow(1.0)  # the half-open probe
    assert not breaker.allow(1.0)  # only one at a time
    breaker.failed(1.2)
    assert not breaker.allow(2.1)
    assert breaker.allow(2.2)
    breaker.succeeded()
    assert breaker.allow(2.3) and not breaker.is_open


def test_abandoned_probe_frees_the_slot() -> None:
    breaker = CircuitBreaker(open_s=1.0)
    breaker.failed(0.0)
    assert breaker.allow(1.0)
    breaker.abandoned()
    assert breaker.allow(1.0)


async def test_cancelled_probe_does_not_wedge_the_breaker() -> None:
    class Stuck(MemoryStore):
        async def ping(self) -> bool:
            await asyncio.sleep(10)
            return True

    clock = [0.0]
    store = ResilientStore(Stuck(), on_failure="closed", clock=lambda: clock[0], timeout_s=10)
    store._breaker.failed(0.0)  # noqa: SLF001 - start from an open breaker
    clock[0] = 2.0
    task = asyncio.create_task(store.ping())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store._breaker.allow(2.0)  # noqa: SLF001


def test_configuration_is_validated() -> None:
    with pytest.raises(ValueError):
        ResilientStore(MemoryStore(), on_failure="sometimes")
    with pytest.raises(ValueError):
        ResilientStore(MemoryStore(), replicas=0)


async def test_create_store_picks_by_url(redis_url: str) -> None:
    assert isinstance(create_store(None), MemoryStore)
    shared = create_store(redis_url, on_failure="closed", replicas=3)
    try:
        assert isinstance(shared, ResilientStore) and not shared.degraded
        assert (await shared.acquire(RULES)).allowed
    finally:
        await shared.close()


async def test_a_self_bounding_primary_gets_no_second_timer_but_keeps_the_breaker() -> None:
    """`bounds_calls = True` (RedisStore): its own deadline decides, ResilientStore adds none;
    its failures still open the breaker and fall back."""
    class SelfBounded(MemoryStore):
        bounds_calls = True
        fail = False

        async def acquire(self, rules, *, lock_key=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.05)   # longer than the resilient layer's timeout_s below
            if self.fail:
                raise TimeoutError("the primary's own deadline")
            return await super().acquire(rules, lock_key=lock_key)

    primary = SelfBounded()
    store = ResilientStore(primary, on_failure="open", fallback=MemoryStore(), timeout_s=0.001)
    assert (await store.acquire(RULES)).allowed and not store.degraded
    primary.fail = True
    assert (await store.acquire(RULES)).allowed   # from the fallback
    assert store.degraded


async def test_a_held_connection_redis_closed_is_replaced_not_failed(revivable: RedisServer) -> None:
    """The pipeline keeps its connection between batches; after a Redis restart that connection
    is dead (EOF): the next batch must take a fresh one (and reload the script), not fail."""
    store = RedisStore(revivable.url, timeout_s=2.0)
    try:
        assert (await store.acquire([LimitRule("user", "held", 5)])).allowed
        revivable.stop()
        revivable.start()
        await asyncio.sleep(0.05)
        assert (await store.acquire([LimitRule("user", "held", 5)])).allowed
    finally:
        await store.close()
