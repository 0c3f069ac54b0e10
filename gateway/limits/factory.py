"""Choosing the store from configuration: no URL means one replica with in-process state."""
from __future__ import annotations

import time
from typing import Callable

from .memory import MemoryStore
from .model import LimitStore
from .redis_store import RedisStore
from .resilient import ResilientStore

MEMORY_URLS = ("", "memory://")


def create_store(url: str | None, *, on_failure: str = "open", replicas: int = 1,
                 clock: Callable[[], float] = time.monotonic, timeout_s: float = 0.05,
                 on_error: Callable[[str], None] | None = None) -> LimitStore:
    """Redis URLs get the breaker and fallback; connections open lazily on first use, so this
    can run before the event loop serves anything. `timeout_s` is Redis's per-call deadline
    (config `store.timeout_ms`); `on_error(kind)` is told of every failed Redis call.

    `clock` drives the in-process windows and locks (the gateway passes its own clock so tests
    can move time); Redis always uses the server's clock and the breaker always real time."""
    if url is None or url in MEMORY_URLS:
        return MemoryStore(clock=clock)
    # RedisStore bounds every call itself (deadline.py: at most 1 + GRACE_ROUNDS deadlines that
    # blame Redis only for its own time), so ResilientStore adds no timer of its own to it.
    return ResilientStore(RedisStore(url, timeout_s=timeout_s), on_failure=on_failure,
                          fallback=MemoryStore(clock=clock), replicas=replicas, on_error=on_error)
