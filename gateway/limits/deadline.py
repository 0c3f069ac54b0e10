"""A deadline that blames Redis only for time Redis took, not for time this process was busy.

With a plain `asyncio.timeout`, a replica whose event loop is saturated (a burst of requests on
two cores shared with other processes) sees its 50 ms store deadline expire while Redis's reply
sits unread, or while the call is still queued behind other callbacks: each round trip (and a new
connection's handshake takes several) waits for a turn of the busy loop. The breaker then opens
on a healthy Redis and the replica serves from its divided fallback, so a burst of 200 requests
from one user let more than the shared 60 through (tests/test_replicas.py caught it).

`within_deadline` therefore grants up to `GRACE_ROUNDS` more deadlines when the one that just
expired says more about this process than about Redis: the timer fired late (the loop overslept),
or the process spent a good part of the deadline on the CPU. A silent Redis behind an idle
replica still costs exactly one deadline; the worst case is bounded by 1 + GRACE_ROUNDS.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Awaitable, TypeVar

T = TypeVar("T")
GRACE_ROUNDS = 2          # 3 x 50 ms stays inside the 200 ms a request may spend on the store
LATE_FRACTION = 0.1       # a timer this much past due means the loop was busy at the deadline
BUSY_FRACTION = 0.25      # this share of the deadline on the CPU means the loop was busy during it


async def within_deadline(call: Awaitable[T], timeout_s: float) -> T:
    """`call`'s result, or TimeoutError once Redis itself failed to answer within `timeout_s`."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(call)
    try:
        for _ in range(1 + GRACE_ROUNDS):
            deadline, cpu_before = loop.time() + timeout_s, time.process_time()
            await asyncio.wait((task,), timeout=timeout_s)
            if task.done():
                return task.result()
            if not _process_was_busy(loop.time() - deadline, time.process_time() - cpu_before, timeout_s):
                break
        raise TimeoutError(f"no reply within {timeout_s:.3f}s")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _process_was_busy(late_s: float, cpu_s: float, timeout_s: float) -> bool:
    return late_s >= timeout_s * LATE_FRACTION or cpu_s >= timeout_s * BUSY_FRACTION
