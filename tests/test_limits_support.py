"""Helpers shared by the limiter tests: a hand-driven clock and store construction."""
from __future__ import annotations

from dataclasses import dataclass

from gateway.limits import MemoryStore, RedisStore


@dataclass
class FakeClock:
    """Seconds that move only when a test says so."""

    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_store(kind: str, clock: FakeClock, redis_url: str | None) -> MemoryStore | RedisStore:
    if kind == "memory":
        return MemoryStore(clock=clock)
    assert redis_url is not None
    # A generous deadline: these tests check semantics, not latency, on a shared machine.
    return RedisStore(redis_url, clock=clock, timeout_s=2.0)
