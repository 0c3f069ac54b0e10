"""The shared store: every check is one EVALSHA of a Lua script, atomic on the Redis server.

Calls made in the same loop tick travel in one write on one connection (`channel.py`), so
throughput does not depend on how many connections are open.
Time comes from the server (`TIME` inside the scripts), so replicas with skewed clocks agree on
every window. The channel bounds every call by `timeout_s`; any failure surfaces as
`StoreUnavailable`, which `ResilientStore` turns into a fallback or a 503. Keys carry TTLs equal
to their window or lock time, so idle users cost nothing.

Keys are built in `_key` alone, under a prefix `topology.key_prefix` chooses: on a Redis Cluster
it is a hash tag (`{ddmgw}:rl:...`), so all keys share one slot and each script's keys are in
the slot it runs in (`cluster.py`); one node and Sentinel keep the names they always had
(`ddmgw:rl:...`), so replicas of an older release share lockouts and revocations with newer ones
during a rolling upgrade.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from dataclasses import dataclass
from functools import lru_cache, partial
from importlib import resources
from typing import Any, Callable, Sequence

from .cluster import key_slot
from .model import LimitDecision, LimitRule, RuleState, StoreUnavailable, whole_seconds
from .redis_url import parse_redis_url
from .resp import RespError, Word, encode_bulk_strings, encode_command
from .sliding_window import retry_after
from .topology import key_prefix, open_channel

RULE_MEMO = 4096   # distinct (rule tuple, lock key) commands kept: a full memo starts over
SCRIPTS = ("acquire", "record_failure", "lock_remaining", "revoke", "revoked_since")
STATUS_ALLOWED, STATUS_REJECTED, STATUS_LOCKED = 1, 0, 2


@dataclass(frozen=True)
class LuaScript:
    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> "LuaScript":
        """The script `name`.lua after the shared clock prelude (Lua scripts cannot import)."""
        source = _lua("clock") + _lua(name)
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest())

    def evalsha(self, keys: list[str], args: list[Word]) -> bytes:
        """`EVALSHA sha numkeys key... arg...`, encoded; the head is the same for every call."""
        return _evalsha_head(self.sha, len(keys), len(args)) + encode_bulk_strings(keys) + encode_bulk_strings(args)


@lru_cache(maxsize=64)
def _evalsha_head(sha: str, keys: int, args: int) -> bytes:
    return b"*%d\r\n" % (3 + keys + args) + encode_bulk_strings(["EVALSHA", sha, keys])


def _lua(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


class RedisStore:
    degraded = False    # this store is the configured one (ResilientStore says when it falls back)
    # Every call is bounded by the channel's per-batch deadline, so ResilientStore adds no timer.
    bounds_calls = True

    def __init__(self, url: str, *, timeout_s: float = 0.05, namespace: str = "ddmgw",
                 clock: Callable[[], float] | None = None) -> None:
        """`clock` is for tests only: it replaces the server's clock so windows can be exercised
        exactly without sleeping. Production leaves it None and the scripts read `TIME`.
        Raises ValueError for a URL it cannot honour (config validation reports it first)."""
        address = parse_redis_url(url)
        self._prefix = key_prefix(address, namespace)
        self._clock = clock
        self._scripts = {name: LuaScript.load(name) for name in SCRIPTS}
        # Every new connection loads the scripts up front (a promoted replica, a Cluster node
        # that a MOVED or ASK points at); NOSCRIPT below still covers a SCRIPT FLUSH.
        preload = [encode_command(["SCRIPT", "LOAD", script.source]) for script in self._scripts.values()]
        self._channel = open_channel(address, timeout_s=timeout_s, slot=key_slot(namespace), greeting=preload)
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self._hit_ids = itertools.count()
        self._instance = os.urandom(6).hex()  # makes hit ids unique across replicas
        self._rule_memo: dict[tuple[tuple[LimitRule, ...], str | None, str], tuple[bytes, str, str]] = {}

    async def acquire(self, rules: Sequence[LimitRule], *, lock_key: str | None = None) -> LimitDecision:
        return decision_from_reply(rules, await self._acquire_script(rules, lock_key, "1"))

    async def peek(self, rules: Sequence[LimitRule]) -> tuple[RuleState, ...]:
        """The same script, told to record nothing: the answer is what `acquire` would see."""
        return decision_from_reply(rules, await self._acquire_script(rules, None, "0")).states

    async def _acquire_script(self, rules: Sequence[LimitRule], lock_key: str | None, records: str) -> Any:
        """acquire.lua's reply. Only its one argument's hit id (and a test clock's time) changes
        from call to call; the rest of the command is memoized (`_acquire_parts`). The round
        trip is awaited here directly rather than through `_send`: one coroutine fewer to
        suspend and resume on every request."""
        prefix, head, tail = self._acquire_parts(rules, lock_key, records)
        now = "-" if self._clock is None else repr(self._clock() * 1000.0)
        word = f"{head}{now} {self._instance}:{next(self._hit_ids)}{tail}".encode("ascii")
        command = b"%s$%d\r\n%s\r\n" % (prefix, len(word), word)
        reply = await self._channel.call(command)
        if type(reply) is bytes:
            return reply
        return await self._answered(self._scripts["acquire"], command, reply)

    def _acquire_parts(self, rules: Sequence[LimitRule], lock_key: str | None,
                       records: str) -> tuple[bytes, str, str]:
        """acquire.lua's command up to its argument (EVALSHA, the sha, the keys: encoded), and
        the argument's words before and after the time and hit id, memoized per rule tuple and
        lock key: a request's rules are one of few tuples (RuleSet memoizes them) and its lock
        key one per access key, while formatting a float and encoding a key per rule were most
        of the client's cost."""
        memo_key = (tuple(rules), lock_key, records)
        found = self._rule_memo.get(memo_key)
        if found is None:
            if len(self._rule_memo) >= RULE_MEMO:
                self._rule_memo.clear()
            found = self._rule_memo[memo_key] = self._acquire_command_parts(memo_key[0], lock_key, records)
        return found

    def _acquire_command_parts(self, rules: tuple[LimitRule, ...], lock_key: str | None,
                               records: str) -> tuple[bytes, str, str]:
        keys = [self._key("rl", rule.key) for rule in rules]
        if lock_key is not None:
            keys += [self._key("lock", lock_key), self._key("fail", lock_key)]
        script = self._scripts["acquire"]
        prefix = _evalsha_head(script.sha, len(keys), 1) + encode_bulk_strings(keys)
        rule_words = " ".join([f"{rule.limit} {rule.window_s * 1000.0!r} {'r' if rule.report else 'e'}"
                               for rule in rules])
        return prefix, f"{len(rules)} ", f" {'1' if lock_key else '0'} {records} {rule_words}"

    async def record_failure(self, key: str, *, threshold: int = 5, lock_s: float = 300.0) -> bool:
        keys = [self._key("lock", key), self._key("fail", key)]
        reply = await self._run("record_failure", keys, [self._now_arg(), threshold, repr(lock_s * 1000.0)])
        return int(reply) == 1

    async def lock_remaining(self, key: str) -> float:
        reply = await self._run("lock_remaining", [self._key("lock", key)], [self._now_arg()])
        return float(reply) / 1000.0

    async def clear_failures(self, key: str) -> None:
        await self._call(["DEL", self._key("lock", key), self._key("fail", key)])

    async def revoke(self, token_id: str, ttl_s: float) -> None:
        await self._run("revoke", self._revocation_keys(), [self._now_arg(), token_id, repr(ttl_s * 1000.0)])

    async def revoked_since(self, cursor: float) -> tuple[list[str], float]:
        seq, ids = await self._run("revoked_since", self._revocation_keys(), [self._now_arg(), repr(cursor)])
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids], float(seq)

    async def claim_once(self, key: str, *, ttl_s: float) -> bool:
        """SET NX PX: atomic on the server, expiry on the server's clock."""
        reply = await self._call(["SET", self._key("once", key), "1", "NX", "PX", max(1, int(ttl_s * 1000))])
        return reply is not None

    async def ping(self) -> bool:
        reply: object = await self._call(["PING"])
        return reply == b"PONG"

    async def close(self) -> None:
        await self._channel.close()

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    def _revocation_keys(self) -> list[str]:
        return [self._key("revoked", "seq"), self._key("revoked", "exp"), self._key("revoked", "counter")]

    def _now_arg(self) -> str:
        return "" if self._clock is None else repr(self._clock() * 1000.0)

    async def _run(self, name: str, keys: list[str], args: list[Word]) -> Any:
        """EVALSHA; after a Redis restart or SCRIPT FLUSH (NOSCRIPT) the script is loaded once,
        queued ahead of the retried call on the same connection, so the retry finds it."""
        script = self._scripts[name]
        return await self._send(script, script.evalsha(keys, args))

    async def _send(self, script: LuaScript, command: bytes) -> Any:
        return await self._answered(script, command, await self._channel.call(command))

    async def _answered(self, script: LuaScript, command: bytes, reply: Any) -> Any:
        """`reply` as a value: NOSCRIPT retries once behind a SCRIPT LOAD, other errors raise."""
        if type(reply) is RespError and reply.kind == "NOSCRIPT":
            self._load(script)
            reply = await self._channel.call(command)
        return _value(reply)

    def _load(self, script: LuaScript) -> None:
        """One SCRIPT LOAD however many calls saw NOSCRIPT in the same batch."""
        if script.name not in self._loading:
            loading = self._channel.call(encode_command(["SCRIPT", "LOAD", script.source]))
            self._loading[script.name] = loading
            loading.add_done_callback(partial(self._loaded, script.name))

    def _loaded(self, name: str, done: asyncio.Future[Any]) -> None:
        del self._loading[name]
        if not done.cancelled():
            done.exception()   # retrieved: a failed load shows up as NOSCRIPT on the retry

    async def _call(self, words: list[Word]) -> Any:
        return _value(await self._channel.call(encode_command(words)))


def _value(reply: Any) -> Any:
    """Error replies speak `StoreUnavailable` to callers, like every other failure."""
    if type(reply) is RespError:
        raise StoreUnavailable(f"redis: {reply.kind}")
    return reply


RULE_FIELDS = 3   # remaining, reset_ms, free_ms per rule, after the four header fields
ROOM = b"0.000"   # free_ms of a rule with room (most rules of most replies): no float to parse


def decision_from_reply(rules: Sequence[LimitRule], reply: bytes | str) -> LimitDecision:
    """Turn the script's reply into the same decision the memory store returns.
    (int() and float() read bytes as well as str: nothing is decoded first; the script already
    clamps `remaining` and never reports a negative time.) The common reply, allowed with nothing
    to report, is recognised by two fields' bytes, and a rule's free_ms of 0 by its bytes."""
    fields: Sequence[bytes | str] = reply.split()
    states = tuple([RuleState(rule.name, rule.limit, int(fields[i]), float(fields[i + 1]) / 1000.0,
                              0.0 if fields[i + 2] == ROOM else float(fields[i + 2]) / 1000.0)
                    for i, rule in zip(range(4, 4 + RULE_FIELDS * len(rules), RULE_FIELDS), rules)])
    if fields[0] == b"1" and fields[3] == b"0":
        return LimitDecision(True, None, False, 0.0, states, 0)
    status = int(fields[0])
    if status == STATUS_LOCKED:
        lock_s = float(fields[2]) / 1000.0
        return LimitDecision(False, None, True, lock_s, states, whole_seconds(lock_s))
    if status == STATUS_REJECTED:
        refusing = int(fields[1]) - 1
        return LimitDecision(False, rules[refusing].name, False, 0.0, states, retry_after(states[refusing].free_s))
    would = int(fields[3])
    if would:
        return LimitDecision(True, None, False, 0.0, states, 0,
                             tuple([rule.name for i, rule in enumerate(rules) if would >> i & 1]))
    return LimitDecision(True, None, False, 0.0, states, 0)
