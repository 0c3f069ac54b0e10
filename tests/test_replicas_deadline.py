"""The store deadline blames Redis for Redis's time only (gateway/limits/deadline.py), and the
channel (gateway/limits/channel.py) keeps every reply with the call it belongs to.

A busy event loop used to time out calls whose answers had already arrived, which opened the
breaker on a healthy Redis and let a 200-request burst past the shared limit of 60. These run the
channel against a small RESP server on loopback whose timing the test controls.
"""
from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator, Awaitable, Callable

import pytest

from gateway.limits.channel import RedisChannel
from gateway.limits.model import StoreUnavailable
from gateway.limits.redis_url import RedisAddress
from gateway.limits.resp import RespError, encode_command, parse_reply

from .conftest import free_port

PING = encode_command(["PING"])
Answer = Callable[[list[bytes]], Awaitable[bytes | None]]


def hog_cpu(seconds: float) -> None:
    """Keeps the event loop (and the CPU) busy, as a burst of signature checks does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def echo(command: list[bytes]) -> bytes:
    if command[0] == b"PING":
        return b"+PONG\r\n"
    if command[0] == b"ECHO":
        return b"$%d\r\n%s\r\n" % (len(command[1]), command[1])
    return b"-ERR unknown command\r\n"


async def serve_resp(answer: Answer) -> AsyncIterator[tuple[RedisAddress, list[str]]]:
    """A RESP server on loopback: `answer` gets each command and returns the reply bytes (None:
    stay silent). Yields the address and a log of connection events ("open", "eof")."""
    events: list[str] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        events.append("open")
        buffer = b""
        while data := await reader.read(65536):
            buffer += data
            while (parsed := parse_reply(buffer)) is not None:
                command, used = parsed
                buffer = buffer[used:]
                reply = await answer(command)
                if reply is not None:
                    writer.write(reply)
        events.append("eof")
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", free_port())
    try:
        yield RedisAddress(port=server.sockets[0].getsockname()[1]), events
    finally:
        server.close()


@pytest.fixture
async def prompt() -> AsyncIterator[tuple[RedisAddress, list[str]]]:
    async def answer(command: list[bytes]) -> bytes:
        return echo(command)
    async for served in serve_resp(answer):
        yield served


@pytest.fixture
async def silent() -> AsyncIterator[tuple[RedisAddress, list[str]]]:
    async def answer(command: list[bytes]) -> None:
        return None
    async for served in serve_resp(answer):
        yield served


async def test_a_loop_that_overslept_the_deadline_still_gets_the_reply(prompt) -> None:
    channel = RedisChannel(prompt[0], timeout_s=0.05)
    try:
        reply = channel.call(PING)
        asyncio.get_running_loop().call_soon(hog_cpu, 0.08)   # past the 50 ms deadline
        assert await reply == b"PONG"
    finally:
        await channel.close()


async def test_a_silent_peer_on_an_idle_loop_costs_one_deadline(silent) -> None:
    address, events = silent
    channel = RedisChannel(address, timeout_s=1.0)
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable, match="TimeoutError"):
        await channel.call(PING)
    # One deadline is 1 s; a grace round (granted only to a loop late by 0.1 s or busy for
    # 0.25 s, which this idle one is not) would make it 2 s.
    assert 1.0 <= time.perf_counter() - started < 1.95
    await asyncio.sleep(0.05)
    assert events == ["open", "eof"]   # the connection to the dead peer is dropped, not reused
    await channel.close()


async def test_every_call_of_a_batch_fails_with_it_and_the_next_call_reconnects() -> None:
    answered = asyncio.Event()

    async def answer(command: list[bytes]) -> bytes | None:
        return echo(command) if answered.is_set() else None

    async for address, events in serve_resp(answer):
        channel = RedisChannel(address, timeout_s=0.05)
        outcomes = await asyncio.gather(*(channel.call(PING) for _ in range(5)), return_exceptions=True)
        assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes)
        answered.set()
        assert await channel.call(PING) == b"PONG"
        assert events.count("open") == 2
        await channel.close()


async def test_a_refused_connection_fails_at_once() -> None:
    channel = RedisChannel(RedisAddress(port=free_port()), timeout_s=60.0)
    with pytest.raises(StoreUnavailable, match="ConnectionRefusedError"):   # not the deadline's TimeoutError
        await channel.call(PING)
    await channel.close()


async def test_replies_split_anywhere_reach_their_own_callers() -> None:
    async def answer(command: list[bytes]) -> bytes:
        return echo(command)

    async for address, _ in serve_resp(answer):
        channel = RedisChannel(address, timeout_s=2.0)
        words = [b"", b"a", b"\r\n" * 3, b"x" * 70_000, "ü".encode()]
        replies = await asyncio.gather(*(channel.call(encode_command(["ECHO", w])) for w in words))
        assert replies == words
        await channel.close()


async def test_a_caller_that_gives_up_does_not_shift_the_replies(prompt) -> None:
    channel = RedisChannel(prompt[0], timeout_s=2.0)
    try:
        first = channel.call(encode_command(["ECHO", "first"]))
        second = channel.call(encode_command(["ECHO", "second"]))
        first.cancel()
        assert await second == b"second"
        assert await channel.call(encode_command(["ECHO", "third"])) == b"third"
    finally:
        await channel.close()


async def test_error_replies_stay_with_their_call(prompt) -> None:
    channel = RedisChannel(prompt[0], timeout_s=2.0)
    try:
        replies = await asyncio.gather(channel.call(encode_command(["NOPE"])), channel.call(PING))
        assert isinstance(replies[0], RespError) and replies[0].kind == "ERR"
        assert replies[1] == b"PONG"
    finally:
        await channel.close()


async def test_bytes_that_are_not_resp_fail_the_connection() -> None:
    async def answer(command: list[bytes]) -> bytes:
        return b"!garbage\r\n"

    async for address, _ in serve_resp(answer):
        channel = RedisChannel(address, timeout_s=2.0)
        with pytest.raises(StoreUnavailable, match="ProtocolError"):
            await channel.call(PING)
        await channel.close()


async def test_close_settles_calls_still_waiting(silent) -> None:
    channel = RedisChannel(silent[0], timeout_s=5.0)
    waiting = channel.call(PING)
    await asyncio.sleep(0.05)
    await channel.close()
    with pytest.raises(StoreUnavailable):
        await waiting
