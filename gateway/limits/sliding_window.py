"""The exact rolling-window limiter: a log of accepted hits per key.

A sliding LOG is exact where counters approximate: a key is over its limit exactly when `limit`
hits were accepted in the last `window_s` seconds. Memory stays bounded because a key never holds
more than `limit` timestamps and idle keys are evicted. Pure: the caller passes `now`, so tests
drive time and the same maths backs every store (the Redis Lua script mirrors it).
"""
from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import Sequence

from .expiry import evict_expired
from .model import LimitDecision, LimitRule, RuleState


class HitLog:
    """Accepted hits for one key, oldest first; only timestamps inside the window are kept."""

    __slots__ = ("window_s", "hits")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.hits: deque[float] = deque()

    def prune(self, now: float) -> None:
        """A hit at t counts while now < t + window, so it leaves exactly at t + window."""
        hits = self.hits
        horizon = now - self.window_s
        while hits and hits[0] <= horizon:
            hits.popleft()

    def is_idle(self, now: float) -> bool:
        """Every hit has left the window (the same comparison as `prune`, so they never disagree)."""
        return not self.hits or self.hits[-1] <= now - self.window_s


def rule_state(rule: LimitRule, log: HitLog | None, now: float) -> RuleState:
    count = len(log.hits) if log else 0
    reset = log.hits[0] + rule.window_s - now if log and log.hits else 0.0
    return RuleState(rule.name, rule.limit, max(0, rule.limit - count), max(0.0, reset))


def slot_frees_in(rule: LimitRule, log: HitLog | None, now: float) -> float:
    """Seconds until one more hit would fit: when the hit `limit` places from the newest leaves."""
    hits = log.hits if log else deque()
    surplus = len(hits) - rule.limit
    if rule.limit <= 0 or surplus < 0:
        return rule.window_s if rule.limit <= 0 else 0.0
    return hits[surplus] + rule.window_s - now


def retry_after(seconds: float) -> int:
    """Whole seconds, rounded up, at least one: waiting that long is enough to get in."""
    return max(1, math.ceil(seconds - 1e-9))


class SlidingWindowLimiter:
    """Hit logs for many keys; `acquire` checks every rule and records only if all pass."""

    def __init__(self) -> None:
        self._logs: OrderedDict[str, HitLog] = OrderedDict()

    def __len__(self) -> int:
        """Tracked keys: what the memory-bound tests watch."""
        return len(self._logs)

    def peek(self, rules: Sequence[LimitRule], now: float) -> tuple[RuleState, ...]:
        """Current budgets without recording anything (a locked caller consumes nothing)."""
        return tuple(rule_state(rule, self._pruned(rule, now), now) for rule in rules)

    def acquire(self, rules: Sequence[LimitRule], now: float) -> LimitDecision:
        evict_expired(self._logs, now, HitLog.is_idle)
        logs = []
        for rule in rules:   # check every rule first: a refused request records nothing
            log = self._pruned(rule, now)
            if (len(log.hits) if log else 0) >= rule.limit:
                return self._refused(rules, rule, now)
            logs.append(log)
        return LimitDecision(True, None, False, 0.0,
                             tuple([self._record(rule, log, now) for rule, log in zip(rules, logs)]), 0)

    def _refused(self, rules: Sequence[LimitRule], refusing: LimitRule, now: float) -> LimitDecision:
        states = tuple(rule_state(rule, self._pruned(rule, now), now) for rule in rules)
        return LimitDecision(False, refusing.name, False, 0.0, states,
                             retry_after(slot_frees_in(refusing, self._logs.get(refusing.key), now)))

    def _pruned(self, rule: LimitRule, now: float) -> HitLog | None:
        log = self._logs.get(rule.key)
        if log is not None:
            log.prune(now)
        return log

    def _record(self, rule: LimitRule, log: HitLog | None, now: float) -> RuleState:
        """Called only once every rule passed, so `rule.limit` >= 1 here; `log` is the rule's
        (already pruned) log, None for a key that had none (setdefault: two rules may share it)."""
        if log is None:
            log = self._logs.setdefault(rule.key, HitLog(rule.window_s))
        log.window_s = rule.window_s
        self._logs.move_to_end(rule.key)
        hits = log.hits
        hits.append(now)
        while len(hits) > rule.limit:
            hits.popleft()
        reset = hits[0] + rule.window_s - now
        return RuleState(rule.name, rule.limit, rule.limit - len(hits), reset if reset > 0.0 else 0.0)
