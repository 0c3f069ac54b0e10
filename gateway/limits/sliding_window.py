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
    remaining = rule.limit - count
    return RuleState(rule.name, rule.limit, remaining if remaining > 0 else 0, max(0.0, reset),
                     0.0 if remaining > 0 else max(0.0, slot_frees_in(rule, log, now)))


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
    """Hit logs for many keys; `acquire` checks every rule and records only if all pass.

    One least-recently-touched table per window length: within a table the front entry is always
    the next to go idle, so eviction stays exact. (With one table, a day-long log at the front
    would shield every idle one-minute log behind it, e.g. per-IP keys, for up to a day.)"""

    def __init__(self) -> None:
        self._tables: dict[float, OrderedDict[str, HitLog]] = {}

    def __len__(self) -> int:
        """Tracked keys: what the memory-bound tests watch."""
        return sum(len(table) for table in self._tables.values())

    def _table(self, window_s: float) -> OrderedDict[str, HitLog]:
        table = self._tables.get(window_s)
        if table is None:
            table = self._tables[window_s] = OrderedDict()
        return table

    def peek(self, rules: Sequence[LimitRule], now: float) -> tuple[RuleState, ...]:
        """Current budgets without recording anything (a locked caller consumes nothing)."""
        return tuple(rule_state(rule, self._pruned(rule, now), now) for rule in rules)

    def acquire(self, rules: Sequence[LimitRule], now: float) -> LimitDecision:
        """Refused (recording nothing) when an enforced rule is full; otherwise every enforced rule
        records the hit, and a report-mode rule records it while it has room and is named in
        `would_reject` when it has none (its log never outgrows its limit either way)."""
        tables = self._tables
        for table in tables.values():
            if table and next(iter(table.values())).is_idle(now):   # usually nothing to evict
                evict_expired(table, now, HitLog.is_idle)
        found: list[tuple[OrderedDict[str, HitLog], HitLog | None]] = []
        for rule in rules:   # check every rule first: a refused request records nothing
            table = tables.get(rule.window_s) or self._table(rule.window_s)
            log = table.get(rule.key)
            if log is not None:
                log.prune(now)
            if not rule.report and (len(log.hits) if log else 0) >= rule.limit:
                return self._refused(rules, rule, now)
            found.append((table, log))
        states: list[RuleState] = []
        would_reject: tuple[str, ...] = ()
        for rule, (table, log) in zip(rules, found):
            if rule.report and (len(log.hits) if log else 0) >= rule.limit:
                would_reject += (rule.name,)
                states.append(rule_state(rule, log, now))
            else:
                states.append(_record(table, rule, log, now))
        return LimitDecision(True, None, False, 0.0, tuple(states), 0, would_reject)

    def _refused(self, rules: Sequence[LimitRule], refusing: LimitRule, now: float) -> LimitDecision:
        states = tuple(rule_state(rule, self._pruned(rule, now), now) for rule in rules)
        return LimitDecision(False, refusing.name, False, 0.0, states,
                             retry_after(slot_frees_in(refusing, self._pruned(refusing, now), now)))

    def _pruned(self, rule: LimitRule, now: float) -> HitLog | None:
        log = self._table(rule.window_s).get(rule.key)
        if log is not None:
            log.prune(now)
        return log


def _record(table: OrderedDict[str, HitLog], rule: LimitRule, log: HitLog | None, now: float) -> RuleState:
    """Called only once every rule passed, so `rule.limit` >= 1 here; `log` is the rule's
    (already pruned) log in `table`, None for a key that had none (setdefault: two rules
    may share it)."""
    if log is None:
        log = table.setdefault(rule.key, HitLog(rule.window_s))
    table.move_to_end(rule.key)
    hits = log.hits
    hits.append(now)
    while len(hits) > rule.limit:
        hits.popleft()
    reset = hits[0] + rule.window_s - now
    remaining = rule.limit - len(hits)
    reset = reset if reset > 0.0 else 0.0
    return RuleState(rule.name, rule.limit, remaining, reset, 0.0 if remaining else reset)
