"""What only the Redis store has to prove: one round trip, the server's clock, TTLs, NOSCRIPT."""
from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
import redis.asyncio as aioredis

from gateway.limits import LimitRule, RedisStore


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    created = RedisStore(redis_url, timeout_s=2.0)
    yield created
    await created.close()


SCRIPT_INTERNAL = {"time", "zremrangebyscore", "zrange", "zcard", "zadd", "pexpire", "get", "del"}


async def client_commands(raw: aioredis.Redis) -> dict[str, int]:
    """Commands clients sent (commandstats also counts the ones scripts run inside Redis)."""
    stats = await raw.info("commandstats")
    names = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}
    return {k: v for k, v in names.items() if k not in SCRIPT_INTERNAL | {"config|resetstat", "info"}}


async def test_one_evalsha_per_acquire(store: RedisStore, raw: aioredis.Redis) -> None:
    rules = [LimitRule("user", "u", 100), LimitRule("global", "g", 1000)]
    await store.acquire(rules, lock_key="ak:A")  # opens the connection (its greeting loads the scripts)
    await raw.config_resetstat()
    for _ in range(10):
        await store.acquire(rules, lock_key="ak:A")
    await asyncio.gather(*(store.acquire(rules) for _ in range(10)))
    assert await client_commands(raw) == {"evalsha": 20}


async def test_uses_the_server_clock(store: RedisStore) -> None:
    rule = LimitRule("user", "u", 2, window_s=0.3)
    assert [(await store.acquire([rule])).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.35)
    assert (await store.acquire([rule])).allowed


async def test_replicas_share_one_budget(redis_url: str, store: RedisStore) -> None:
    other = RedisStore(redis_url, timeout_s=2.0)
    rule = LimitRule("user", "shared", 3)
    try:
        outcomes = [(await s.acquire([rule])).allowed for s in (store, other, store, other)]
    finally:
        await other.close()
    assert outcomes == [True, True, True, False]


async def test_every_key_expires(store: RedisStore, raw: aioredis.Redis) -> None:
    await store.acquire([LimitRule("user", "u", 5, 60), LimitRule("global", "g", 50, 60)], lock_key="ak:A")
    await store.record_failure("ak:B")
    for _ in range(5):
        await store.record_failure("ak:C")
    await store.revoke("jti", 30)
    keys = await raw.keys("*")
    assert keys
    for key in keys:
        assert 0 < await raw.pttl(key) <= 300_000, key


async def test_hundred_thousand_users_leave_nothing_behind(store: RedisStore, raw: aioredis.Redis) -> None:
    window_s, users, batch = 0.5, 100_000, 500
    started = time.monotonic()
    for first in range(0, users, batch):
        await asyncio.gather(*(store.acquire([LimitRule("user", f"user-{i}", 60, window_s)])
                               for i in range(first, first + batch)))
    keyspace = (await raw.info("keyspace")).get("db0", {})
    assert keyspace.get("keys", 0) == keyspace.get("expires", -1)  # every key has a TTL
    assert keyspace["keys"] > 0
    deadline = started + 60
    while await raw.dbsize() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # Redis' active expiry reclaims idle users on its own
    assert await raw.dbsize() == 0


async def test_reloads_script_after_flush(store: RedisStore, raw: aioredis.Redis) -> None:
    rule = LimitRule("user", "u", 5)
    assert (await store.acquire([rule])).allowed
    await raw.script_flush()
    assert (await store.acquire([rule])).states[0].remaining == 3
    assert await store.lock_remaining("nobody") == 0.0


async def test_failure_streak_expires_with_real_ttl(store: RedisStore) -> None:
    for _ in range(2):
        await store.record_failure("ak:T", threshold=3, lock_s=0.2)
    await asyncio.sleep(0.25)
    assert await store.record_failure("ak:T", threshold=3, lock_s=0.2) is False


async def test_concurrent_calls_reload_the_script_once(store: RedisStore, raw: aioredis.Redis) -> None:
    await store.acquire([LimitRule("user", "warm", 5)])
    await raw.script_flush()
    await raw.config_resetstat()
    decisions = await asyncio.gather(*(store.acquire([LimitRule("user", f"u{i}", 5)]) for i in range(50)))
    assert all(d.allowed and d.states[0].remaining == 4 for d in decisions)
    assert (await client_commands(raw)).get("script|load") == 1


@pytest.mark.parametrize("words", [
    ["EVALSHA", "0" * 40, 2, "ddmgw:rl:user:d:u", "other", "2 - id:1 0 60 60000.0"],   # ASCII: one encode
    ["EVALSHA", "0" * 40, 2, "ddmgw:rl:ü", "other", 7, b"\x00\xff"],                   # word by word
])
def test_encoded_commands_match_redis_py(words: list) -> None:
    from redis.asyncio.connection import Connection

    from gateway.limits.redis_store import LuaScript
    from gateway.limits.resp import encode_command

    expected = b"".join(Connection().pack_command(*words))
    assert encode_command(words) == expected
    script = LuaScript("t", "return 1", "0" * 40)
    assert script.evalsha(words[3:5], words[5:]) == expected


async def test_memoized_acquire_commands_match_redis_py(store: RedisStore) -> None:
    """acquire and peek send a memoized command head with only the argument encoded per call:
    each command as sent is what redis-py packs from its words (non-ASCII keys included), its
    keys are the rules' then the lock's, and successive calls differ in the hit id alone."""
    from redis.asyncio.connection import Connection

    from gateway.limits.resp import parse_reply

    real, sent = store._channel, []

    class Recording:   # passes every command on to the real channel, keeping a copy
        def call(self, command: bytes) -> "asyncio.Future[object]":
            sent.append(command)
            return real.call(command)

        async def close(self) -> None:
            await real.close()

    store._channel = Recording()
    rules = [LimitRule("user", "ü-user", 100), LimitRule("report", "r", 5, 1.5, report=True)]
    for _ in range(2):
        assert (await store.acquire(rules, lock_key="ak:Ä")).allowed
    assert (await store.peek(rules))[0].remaining == 98
    words = [parse_reply(command)[0] for command in sent]
    assert [b"".join(Connection().pack_command(*w)) for w in words] == sent
    assert [w[2:7] for w in words[:2]] == [[b"4", "ddmgw:rl:ü-user".encode(), b"ddmgw:rl:r",
                                            "ddmgw:lock:ak:Ä".encode(), "ddmgw:fail:ak:Ä".encode()]] * 2
    first, second = (w[7].split() for w in words[:2])
    assert first[:2] == second[:2] == [b"2", b"-"] and first[3:] == second[3:] == \
        b"1 1 100 60000.0 e 5 1500.0 r".split() and first[2] != second[2]
    assert words[2][2:5] == [b"2", "ddmgw:rl:ü-user".encode(), b"ddmgw:rl:r"]
    assert words[2][5].split()[3:5] == [b"0", b"0"]


@given(st.lists(st.one_of(st.text(), st.binary(), st.integers()), min_size=1, max_size=8))
def test_every_command_parses_back_to_its_words(words: list) -> None:
    from gateway.limits.resp import encode_command, parse_reply

    encoded = encode_command(words)
    expected = [w if isinstance(w, bytes) else str(w).encode() for w in words]
    assert parse_reply(encoded) == (expected, len(encoded))
    assert all(parse_reply(encoded[:cut]) is None for cut in range(len(encoded)))


async def test_sequential_batches_reuse_one_held_connection(store: RedisStore, raw: aioredis.Redis) -> None:
    await store.acquire([LimitRule("user", "reuse-warm", 100)])
    before = int((await raw.info("stats"))["total_connections_received"])
    for index in range(5):
        assert (await store.acquire([LimitRule("user", f"reuse-{index}", 100)])).allowed
    assert int((await raw.info("stats"))["total_connections_received"]) == before


@pytest.mark.parametrize("raw, value", [
    (b"+OK\r\n", b"OK"), (b":-42\r\n", -42), (b"$-1\r\n", None), (b"*-1\r\n", None), (b"$0\r\n\r\n", b""),
    (b"*2\r\n:7\r\n*2\r\n$1\r\na\r\n$-1\r\n", [7, [b"a", None]]),
])
def test_replies_of_every_type_parse(raw: bytes, value: object) -> None:
    from gateway.limits.resp import parse_reply

    assert parse_reply(raw + b"+next\r\n") == (value, len(raw))


def test_error_replies_are_values_and_garbage_is_a_protocol_error() -> None:
    from gateway.limits.resp import ProtocolError, RespError, parse_reply

    error, _ = parse_reply(b"-NOSCRIPT No matching script.\r\n")
    assert isinstance(error, RespError) and error.kind == "NOSCRIPT"
    for garbage in (b"?x\r\n", b"$x\r\nab\r\n", b"*two\r\n"):
        with pytest.raises(ProtocolError):
            parse_reply(garbage)
