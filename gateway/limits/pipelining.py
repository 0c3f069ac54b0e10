"""Auto-pipelining: script calls made in the same event-loop tick share one network write.

Each request is still exactly one EVALSHA; what is shared is the round trip, so one process
reaches tens of thousands of checks per second without more connections. Scripts are called by
SHA; after a Redis restart (NOSCRIPT) the script is loaded once and the affected calls re-sent.
"""
from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from .deadline import within_deadline
from .model import StoreUnavailable


@dataclass(frozen=True)
class LuaScript:
    name: str
    source: str
    sha: str

    @classmethod
    def of(cls, name: str, source: str) -> "LuaScript":
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest())


@dataclass
class PendingCall:
    script: LuaScript
    keys: list[str]
    args: list[Any]
    reply: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ScriptPipeline:
    def __init__(self, client: aioredis.Redis, *, timeout_s: float, max_batch: int = 128) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._max_batch = max_batch
        self._pending: list[PendingCall] = []
        self._sending: set[asyncio.Task[None]] = set()
        # Connections this pipeline holds between batches: redis-py's BlockingConnectionPool
        # costs a condition, a timeout and metrics per checkout (~5% of a Redis-backed request).
        self._idle: list[Any] = []

    def submit(self, script: LuaScript, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """Queue one script call; the batch leaves at the end of the current loop tick."""
        call = PendingCall(script, keys, args)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(call)
        return call.reply

    async def close(self) -> None:
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        pool = self._client.connection_pool
        while self._idle:
            await pool.release(self._idle.pop())

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_batch):
            task = asyncio.create_task(self._send(pending[start:start + self._max_batch]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[PendingCall]) -> None:
        try:
            replies = await within_deadline(self._exchange(batch), self._timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            _settle_all(batch, StoreUnavailable(f"redis: {type(exc).__name__}"))
        except BaseException as exc:  # cancelled by close(): nobody may be left waiting
            _settle_all(batch, StoreUnavailable(f"redis: {type(exc).__name__}"))
            raise
        else:
            for call, reply in zip(batch, replies):
                _settle(call, reply)

    async def _exchange(self, batch: list[PendingCall]) -> list[Any]:
        """Run the batch; after a Redis restart (NOSCRIPT) load the scripts and re-send those calls."""
        replies = await self._execute(batch)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._load({batch[i].script for i in missing})
            for i, reply in zip(missing, await self._execute([batch[i] for i in missing])):
                replies[i] = reply
        return replies

    async def _execute(self, batch: list[PendingCall]) -> list[Any]:
        """Write the whole batch at once, then read one reply per call, in order.

        Packed here rather than through redis-py's pipeline: encoding a dozen arguments per call
        was the largest cost of a check. Error replies come back as exceptions, in place."""
        pool = self._client.connection_pool
        connection = await self._lease()
        try:
            await connection.send_packed_command(pack_evalshas(batch), check_health=False)
            replies: list[Any] = []
            for _ in batch:
                try:
                    # math.inf: no socket-timeout timer per reply; within_deadline bounds the batch
                    replies.append(await connection.read_response(timeout=math.inf))
                except ResponseError as error:
                    replies.append(error)
        except BaseException:
            try:
                await connection.disconnect()  # replies may still be in flight: never reuse it
            finally:
                await pool.release(connection)
            raise
        self._idle.append(connection)    # every reply read: clean, kept for the next batch
        return replies

    async def _lease(self) -> Any:
        """A held connection that is still clean and open (the pool's own check: nothing unread,
        no EOF, e.g. after a Redis restart), else a fresh one from the pool."""
        pool = self._client.connection_pool
        while self._idle:
            connection = self._idle.pop()
            try:
                if not await connection.can_read():
                    return connection
            except (RedisError, OSError):
                pass
            try:
                await connection.disconnect()
            finally:
                await pool.release(connection)   # back to the pool's count even if cancelled
        return await pool.get_connection()

    async def _load(self, scripts: set[LuaScript]) -> None:
        for script in scripts:
            await self._client.script_load(script.source)


def _settle(call: PendingCall, reply: Any) -> None:
    if call.reply.done():  # the caller gave up (deadline, cancellation)
        return
    if isinstance(reply, RedisError):
        call.reply.set_exception(StoreUnavailable(f"redis: {type(reply).__name__}"))
    else:
        call.reply.set_result(reply)


def _settle_all(batch: list[PendingCall], error: StoreUnavailable) -> None:
    for call in batch:
        if not call.reply.done():
            call.reply.set_exception(error)


def _bulk(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack_evalshas(batch: list[PendingCall]) -> bytes:
    """RESP for `EVALSHA sha numkeys key... arg...`, one per call, in one buffer."""
    parts: list[bytes] = []
    for call in batch:
        words = [call.script.sha, str(len(call.keys)), *call.keys, *(str(a) for a in call.args)]
        parts.append(b"*%d\r\n$7\r\nEVALSHA\r\n" % (len(words) + 1))
        parts.extend(_bulk(word) for word in words)
    return b"".join(parts)
