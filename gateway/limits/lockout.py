"""Consecutive-failure lockout: N failures in a row lock a key (an AK, a user) for a while.

Pure state over an injected `now`. A failure streak is forgotten `lock_s` after its last failure
and a lock after `lock_s`, so keys that stop failing cost nothing (the Redis store uses the same
lifetimes as key TTLs).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .expiry import evict_expired, touch


@dataclass(frozen=True)
class FailureStreak:
    failures: int
    locked_until: float  # 0 while not locked
    expires_at: float  # when the whole entry can be forgotten


class FailureLockout:
    def __init__(self) -> None:
        self._streaks: OrderedDict[str, FailureStreak] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streaks)

    def lock_remaining(self, key: str, now: float) -> float:
        streak = self._streaks.get(key)
        return max(0.0, streak.locked_until - now) if streak else 0.0

    def record_failure(self, key: str, now: float, *, threshold: int, lock_s: float) -> bool:
        """Count one failure; True when the key is locked (already, or from this failure on)."""
        evict_expired(self._streaks, now, lambda streak, at: streak.expires_at <= at)
        if self.lock_remaining(key, now) > 0:
            return True
        previous = self._streaks.get(key)
        failures = (previous.failures if previous and previous.expires_at > now else 0) + 1
        if failures >= threshold:
            touch(self._streaks, key, FailureStreak(0, now + lock_s, now + lock_s))
            return True
        touch(self._streaks, key, FailureStreak(failures, 0.0, now + lock_s))
        return False

    def clear(self, key: str) -> None:
        """A success breaks the streak (and an explicit clear lifts a lock)."""
        self._streaks.pop(key, None)
