"""One pipelined Redis connection: commands made in the same loop tick leave in one write.

An idle connection (no reply outstanding) writes a command at once instead: waiting for the end
of the tick would only add the rest of the tick to the request's latency, with nothing to batch
it with (at half load, p50 2.3 -> 1.0 ms in one A/B run; closed-loop CPU within noise).

Replies come back in order, so each command is a future at the back of a queue and each parsed
reply settles the one at the front: no task, no reader coroutine, no timer per call. This is
what makes a shared-store check cheap (half the CPU of redis-py's connection stack per call).

Deadlines are per batch (the commands of one tick) and follow `deadline.py`: Redis is blamed
only for time it took, so a batch whose deadline passed while this process itself was busy gets
up to `GRACE_ROUNDS` more. A batch that really went unanswered fails every outstanding command
with `StoreUnavailable` and drops the connection (its late replies could no longer be matched);
the next command opens a fresh one, as does one after Redis closed the connection.

Where the connection goes is the `Locator`'s business: a `RedisAddress` is its own, Sentinel's
(`sentinel.py`) asks the sentinels afresh for every new connection and has the handshake verify
the node with ROLE. An error reply saying the node cannot serve writes any more (READONLY after a
failover, LOADING, MASTERDOWN, CLUSTERDOWN, NOREPLICAS) stays with its call like any reply, and then drops
the connection, so the next command goes through the locator again instead of staying on a node
that will keep refusing. Every connection has TCP keepalive (a peer that vanished without a FIN
is noticed even while idle) and names itself `ddm-gateway:<host>:<pid>` (CLIENT LIST, CLIENT KILL).
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from typing import Any, Callable, Protocol, Sequence

from .deadline import GRACE_ROUNDS, process_was_busy
from .model import StoreUnavailable
from .redis_url import RedisAddress
from .resp import ProtocolError, RespError, encode_command, parse_reply

# Error replies after which this node is no use until the topology is looked up again
# (NOREPLICAS: a primary with min-replicas-to-write cut off from its replicas, as an old primary
# on the wrong side of a partition is while Sentinel promotes another).
DROPPING_ERRORS = frozenset({"READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "NOREPLICAS"})
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_PROBES = 10, 5, 3   # a dead peer: ~25 s
ROLE = encode_command(["ROLE"])


class Locator(Protocol):
    """Where the next connection goes: `locate` may ask other servers (Sentinel, Cluster) and
    raises `StoreUnavailable` when none can say; `verifies_role` has the handshake check that
    the node is a primary."""

    verifies_role: bool

    async def locate(self) -> RedisAddress: ...


class Channel(Protocol):
    """What the store sends commands through: one node (`RedisChannel`) or a Cluster's."""

    def call(self, command: bytes) -> asyncio.Future[Any]: ...

    async def close(self) -> None: ...


Check = Callable[[Any], "str | None"]   # a handshake reply -> why the connection is unusable


class RedisChannel:
    """Hands commands to the current connection, opening a new one when there is none."""

    def __init__(self, locator: Locator, *, timeout_s: float, greeting: Sequence[bytes] = ()) -> None:
        """`greeting`: encoded commands every new connection sends after its handshake, whose
        error replies are ignored (the store preloads its scripts this way)."""
        self._locator = locator
        self._timeout_s = timeout_s
        self._greeting = tuple(greeting)
        self._connection: _Connection | None = None

    def call(self, command: bytes) -> asyncio.Future[Any]:
        """Send an encoded command (`resp.encode_command`); the future holds its reply, error
        replies included (`RespError`), or raises `StoreUnavailable`."""
        connection = self._connection
        if connection is None or connection.closed:
            connection = self._connection = _Connection(self._locator, self._timeout_s, self._greeting)
        return connection.send(command)

    def retire(self) -> None:
        """The next command opens a new connection (through the locator); the current one still
        delivers the replies it owes, then closes (a Cluster's MOVED: those replies are MOVED too)."""
        if self._connection is not None:
            self._connection.retire()
            self._connection = None

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.fail(StoreUnavailable("redis: store closed"))
            await self._connection.wait_closed()
            self._connection = None


class _Batch:
    __slots__ = ("end", "deadline", "cpu_start", "rounds")

    def __init__(self, end: int, deadline: float, cpu_start: float) -> None:
        self.end, self.deadline, self.cpu_start, self.rounds = end, deadline, cpu_start, 0


class _Connection(asyncio.Protocol):
    def __init__(self, locator: Locator, timeout_s: float, greeting: tuple[bytes, ...]) -> None:
        self.closed = False
        self._retiring = False
        self._loop = asyncio.get_running_loop()
        self._timeout_s = timeout_s
        self._transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []      # this tick's commands
        self._unsent: list[bytes] = []        # flushed before the connection was up
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._buffer = b""
        self._received = 0
        self._handshake: list[tuple[bytes, Check]] = []
        self._checks: deque[Check] = deque()   # handshake replies still to come
        self._batches: deque[_Batch] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._lost = self._loop.create_future()
        self._opening = self._loop.create_task(self._open(locator, greeting))

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """An idle connection writes at once; while replies are outstanding, commands gather
        and leave together at the end of the loop tick (one write for a burst of requests)."""
        reply = self._loop.create_future()
        idle = not self._waiting and self._transport is not None
        self._waiting.append(reply)
        self._outgoing.append(command)
        if idle:
            self._flush()
        elif len(self._outgoing) == 1:
            self._loop.call_soon(self._flush)
        return reply

    def fail(self, error: StoreUnavailable) -> None:
        """Settle everything still waiting with `error` and drop the connection for good."""
        if self.closed:
            return
        self.closed = True
        self._opening.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._transport is not None:
            self._transport.abort()
        elif not self._lost.done():
            self._lost.set_result(None)
        while self._waiting:
            reply = self._waiting.popleft()
            if not reply.done():
                reply.set_exception(error)
                reply.add_done_callback(_retrieve)   # the caller may have stopped listening

    def retire(self) -> None:
        self._retiring = True
        if not self._waiting:
            self.fail(StoreUnavailable("redis: connection retired"))

    async def wait_closed(self) -> None:
        await asyncio.shield(self._lost)

    async def _open(self, locator: Locator, greeting: tuple[bytes, ...]) -> None:
        try:
            address = await locator.locate()
            self._handshake = handshake(address, locator.verifies_role, greeting)
            await address.connect(lambda: self)
        except StoreUnavailable as exc:
            self.fail(exc)
        except Exception as exc:  # noqa: BLE001 - refused, unresolvable, TLS: all mean "unavailable"
            self.fail(StoreUnavailable(f"redis: {type(exc).__name__}"))

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if self.closed:               # failed while the connection was being made
            transport.abort()
            return
        keep_alive(transport.get_extra_info("socket"))
        # The handshake's replies come first: its commands go ahead of everything queued so far,
        # and each reply is checked as it arrives, before any reply queued behind it is delivered.
        self._checks.extend(rule for _, rule in self._handshake)
        for batch in self._batches:
            batch.end += len(self._handshake)
        self._transport.write(b"".join([command for command, _ in self._handshake] + self._unsent))
        self._unsent = []

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        position, dropping = 0, None
        try:
            while True:
                parsed = parse_reply(buffer, position)
                if parsed is None:
                    break
                value, position = parsed
                self._received += 1
                if self._checks:
                    problem = self._checks.popleft()(value)
                    if problem is not None:
                        self.fail(StoreUnavailable(f"redis: {problem}"))
                        return
                    continue
                reply = self._waiting.popleft()
                if not reply.done():
                    reply.set_result(value)
                if type(value) is RespError and value.kind in DROPPING_ERRORS:
                    dropping = value.kind
        except (ProtocolError, IndexError) as exc:   # IndexError: a reply nobody asked for
            self.fail(StoreUnavailable(f"redis: {type(exc).__name__}"))
            return
        self._buffer = buffer[position:]
        if dropping is not None:
            self.fail(StoreUnavailable(f"redis: {dropping}"))
        elif self._retiring and not self._waiting:
            self.fail(StoreUnavailable("redis: connection retired"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(StoreUnavailable("redis: ConnectionError"))
        if not self._lost.done():
            self._lost.set_result(None)

    # internals
    def _flush(self) -> None:
        if self.closed or not self._outgoing:   # an idle write already took them
            return
        data, self._outgoing = b"".join(self._outgoing), []
        sent = len(self._waiting) + self._received
        self._batches.append(_Batch(sent, self._loop.time() + self._timeout_s, time.process_time()))
        if self._watchdog is None:
            self._watchdog = self._loop.call_at(self._batches[0].deadline, self._check_deadlines)
        if self._transport is not None:
            self._transport.write(data)
        else:
            self._unsent.append(data)

    def _check_deadlines(self) -> None:
        """Runs at the oldest unanswered batch's deadline; see the module docstring."""
        self._watchdog = None
        while self._batches and self._batches[0].end <= self._received:
            self._batches.popleft()
        if not self._batches:
            return
        oldest, now = self._batches[0], self._loop.time()
        if now >= oldest.deadline:
            late, cpu = now - oldest.deadline, time.process_time() - oldest.cpu_start
            if oldest.rounds >= GRACE_ROUNDS or not process_was_busy(late, cpu, self._timeout_s):
                self.fail(StoreUnavailable("redis: TimeoutError"))
                return
            oldest.rounds += 1
            oldest.deadline, oldest.cpu_start = now + self._timeout_s, time.process_time()
        self._watchdog = self._loop.call_at(oldest.deadline, self._check_deadlines)


def handshake(address: RedisAddress, verify_role: bool, greeting: tuple[bytes, ...]) -> list[tuple[bytes, Check]]:
    """AUTH and SELECT must succeed; CLIENT SETNAME may fail (an ACL without CLIENT, a proxy that
    does not know it) and so may the greeting; ROLE, when asked for, must say "master"."""
    steps: list[tuple[bytes, Check]] = [(encode_command(words), _succeeded) for words in address.handshake()]
    steps.append((encode_command(["CLIENT", "SETNAME", client_name()]), _anything))
    if verify_role:
        steps.append((ROLE, _is_primary))
    steps += [(command, _anything) for command in greeting]
    return steps


def client_name() -> str:
    """`ddm-gateway:<host>:<pid>`; a client name may not hold spaces or control characters."""
    host = "".join(c if c.isprintable() and not c.isspace() else "_" for c in socket.gethostname())
    return f"ddm-gateway:{host}:{os.getpid()}"


def keep_alive(sock: socket.socket | None) -> None:
    """TCP keepalive with Linux's timers shortened (the kernel default waits two hours)."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE_S), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
                          ("TCP_KEEPCNT", KEEPALIVE_PROBES)):
        if hasattr(socket, option):   # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def _succeeded(reply: Any) -> str | None:
    return reply.kind if type(reply) is RespError else None


def _anything(reply: Any) -> str | None:
    return None


def _is_primary(reply: Any) -> str | None:
    if type(reply) is RespError:
        return reply.kind
    role = reply[0] if isinstance(reply, list) and reply else b"?"
    return None if role == b"master" else f"ROLE {role.decode('ascii', 'replace')}, not the primary"


def _retrieve(reply: asyncio.Future[Any]) -> None:
    if not reply.cancelled():
        reply.exception()
