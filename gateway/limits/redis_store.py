"""The shared store: every check is one EVALSHA of a Lua script, atomic on the Redis server.

Calls made in the same loop tick travel in one pipeline (see `pipelining`), so throughput does
not depend on how many connections are open.
Time comes from the server (`TIME` inside the scripts), so replicas with skewed clocks agree on
every window. Each call is bounded by `timeout_s`; any failure surfaces as `StoreUnavailable`,
which `ResilientStore` turns into a fallback or a 503. Keys carry TTLs equal to their window or
lock time, so idle users cost nothing.
"""
from __future__ import annotations

import itertools
import os
from importlib import resources
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .deadline import within_deadline
from .model import LimitDecision, LimitRule, RuleState, StoreUnavailable, whole_seconds
from .pipelining import LuaScript, ScriptPipeline
from .sliding_window import retry_after

T = TypeVar("T")
SCRIPTS = ("acquire", "record_failure", "lock_remaining", "revoke", "revoked_since")
STATUS_ALLOWED, STATUS_REJECTED, STATUS_LOCKED = 1, 0, 2
SOCKET_BACKSTOP_FACTOR = 4


def load_script(name: str) -> str:
    """The script `name`.lua after the shared clock prelude (Lua scripts cannot import)."""
    return _lua("clock") + _lua(name)


def _lua(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


class RedisStore:
    # Every call is bounded here (pipelined batches and `_guard`), so ResilientStore adds no timer.
    bounds_calls = True

    def __init__(self, url: str, *, timeout_s: float = 0.05, prefix: str = "ddmgw:",
                 pool_size: int = 64, clock: Callable[[], float] | None = None) -> None:
        """`clock` is for tests only: it replaces the server's clock so windows can be exercised
        exactly without sleeping. Production leaves it None and the scripts read `TIME`."""
        self._timeout_s = timeout_s
        self._prefix = prefix
        self._clock = clock
        # Socket timeouts are only a backstop: `within_deadline` bounds every call, and a socket
        # timer as short as the deadline would blame Redis for this process's own busy loop.
        backstop_s = timeout_s * SOCKET_BACKSTOP_FACTOR
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=pool_size, timeout=timeout_s, socket_timeout=backstop_s,
            socket_connect_timeout=backstop_s, retry=Retry(NoBackoff(), 1))
        self._client = aioredis.Redis(connection_pool=pool)
        self._scripts = {name: LuaScript.of(name, load_script(name)) for name in SCRIPTS}
        self._pipeline = ScriptPipeline(self._client, timeout_s=timeout_s)
        self._hit_ids = itertools.count()
        self._instance = os.urandom(6).hex()  # makes hit ids unique across replicas

    async def acquire(self, rules: Sequence[LimitRule], *, lock_key: str | None = None) -> LimitDecision:
        keys = [self._key("rl", rule.key) for rule in rules]
        if lock_key is not None:
            keys += [self._key("lock", lock_key), self._key("fail", lock_key)]
        words = [str(len(rules)), self._now_arg() or "-", f"{self._instance}:{next(self._hit_ids)}",
                 "1" if lock_key is not None else "0"]
        for rule in rules:
            words += [str(rule.limit), repr(rule.window_s * 1000.0)]
        args = [" ".join(words)]
        reply = await self._run("acquire", keys, args)
        return decision_from_reply(rules, reply)

    async def record_failure(self, key: str, *, threshold: int = 5, lock_s: float = 300.0) -> bool:
        keys = [self._key("lock", key), self._key("fail", key)]
        reply = await self._run("record_failure", keys, [self._now_arg(), threshold, repr(lock_s * 1000.0)])
        return int(reply) == 1

    async def lock_remaining(self, key: str) -> float:
        reply = await self._run("lock_remaining", [self._key("lock", key)], [self._now_arg()])
        return float(reply) / 1000.0

    async def clear_failures(self, key: str) -> None:
        await self._guard(self._client.delete(self._key("lock", key), self._key("fail", key)))

    async def revoke(self, token_id: str, ttl_s: float) -> None:
        await self._run("revoke", self._revocation_keys(), [self._now_arg(), token_id, repr(ttl_s * 1000.0)])

    async def revoked_since(self, cursor: float) -> tuple[list[str], float]:
        seq, ids = await self._run("revoked_since", self._revocation_keys(), [self._now_arg(), repr(cursor)])
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids], float(seq)

    async def ping(self) -> bool:
        return bool(await self._guard(self._client.ping()))

    async def close(self) -> None:
        await self._pipeline.close()
        await self._client.aclose()

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    def _revocation_keys(self) -> list[str]:
        return [self._key("revoked", "seq"), self._key("revoked", "exp"), self._key("revoked", "counter")]

    def _now_arg(self) -> str:
        return "" if self._clock is None else repr(self._clock() * 1000.0)

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """No deadline of its own: the pipeline bounds every batch by `timeout_s` and settles
        each waiting call either way, which spares one timer per call on the hot path."""
        return await self._pipeline.submit(self._scripts[script], keys, args)

    async def _guard(self, call: Awaitable[T]) -> T:
        """Bound the call and speak only `StoreUnavailable` to callers, whatever went wrong."""
        try:
            return await within_deadline(call, self._timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc


def decision_from_reply(rules: Sequence[LimitRule], reply: bytes | str) -> LimitDecision:
    """Turn the script's reply into the same decision the memory store returns."""
    fields = (reply.decode() if isinstance(reply, bytes) else reply).split()
    status, rejected_index = int(fields[0]), int(fields[1])
    lock_s, retry_s = float(fields[2]) / 1000.0, float(fields[3]) / 1000.0
    states = tuple(
        RuleState(rule.name, rule.limit, max(0, rule.limit - int(fields[4 + 2 * i])),
                  max(0.0, float(fields[5 + 2 * i]) / 1000.0))
        for i, rule in enumerate(rules))
    if status == STATUS_LOCKED:
        return LimitDecision(False, None, True, lock_s, states, whole_seconds(lock_s))
    if status == STATUS_REJECTED:
        return LimitDecision(False, rules[rejected_index - 1].name, False, 0.0, states, retry_after(retry_s))
    return LimitDecision(True, None, False, 0.0, states, 0)
