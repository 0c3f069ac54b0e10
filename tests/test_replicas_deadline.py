"""The store deadline blames Redis for Redis's time only (gateway/limits/deadline.py).

A busy event loop used to time out calls whose answers had already arrived, which opened the
breaker on a healthy Redis and let a 200-request burst past the shared limit of 60.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from gateway.limits.deadline import within_deadline


def hog_cpu(seconds: float) -> None:
    """Keeps the event loop (and the CPU) busy, as a burst of signature checks does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def answer_after_a_few_turns() -> str:
    await asyncio.sleep(0.01)
    for _ in range(3):   # the reader needs more loop turns once the reply is in
        await asyncio.sleep(0)
    return "reply"


async def test_a_loop_that_overslept_the_deadline_still_gets_the_reply() -> None:
    asyncio.get_running_loop().call_soon(hog_cpu, 0.08)   # past the 50 ms deadline
    assert await within_deadline(answer_after_a_few_turns(), 0.05) == "reply"


async def test_a_plain_timeout_would_have_failed_there() -> None:
    """The control: proves the scenario above really beats asyncio.timeout."""
    asyncio.get_running_loop().call_soon(hog_cpu, 0.08)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await answer_after_a_few_turns()


async def test_a_silent_peer_on_an_idle_loop_costs_one_deadline() -> None:
    cancelled = asyncio.Event()

    async def silent() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.set()

    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        await within_deadline(silent(), 0.2)
    # One deadline is 0.2 s; a second (grace) round would make it 0.4 s.
    assert time.perf_counter() - started < 0.39
    assert cancelled.is_set()   # nothing is left running against the dead peer


async def test_errors_of_the_call_pass_through() -> None:
    async def refused() -> None:
        raise ConnectionRefusedError("no redis")

    with pytest.raises(ConnectionRefusedError):
        await within_deadline(refused(), 0.05)
