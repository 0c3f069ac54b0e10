"""Which budgets apply to a request: the two built-in ones plus every matching `limits.rules` entry.

Pure and compiled once per config (the Runtime owns one; a reload builds a new one). The answer
for a (user, action) pair never changes within one config, so it is memoized: the hot path pays
one dict lookup, however many rules are configured.

Store keys name a budget by its rule's name and subject only (`rule:creates:user:<domain>:<id>`),
not its limit or window: a reload that keeps a rule's name and `per` keeps its counts, and a
rollout that switches a rule from `report` to `enforce` continues from what it has counted.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Pattern, Protocol

from policies.patterns import action_regex

from .model import LimitRule

MAX_MEMO = 65_536   # (user, action) pairs; both are config data, so this only guards a mistake


class Budget(NamedTuple):
    """One budget a caller has, as the usage endpoint and `limits explain` describe it."""

    rule: LimitRule
    per: str                            # user | group | domain | global
    actions: tuple[str, ...] | None     # None: every counted request
    mode: str                           # enforce | report
    group: str | None = None            # per: group: whose budget this is
    configured: str | None = None       # the `limits.rules` entry's name; None for the built-in two


class Caller(Protocol):
    """What rule matching needs to know about the caller (a gateway Principal has all of it)."""

    @property
    def domain_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def user_name(self) -> str: ...
    @property
    def groups(self) -> tuple[str, ...]: ...


class _Compiled(NamedTuple):
    config: Any                          # gateway.config.RateRuleConfig
    actions: Pattern[str] | None


class RuleSet:
    def __init__(self, limits: Any) -> None:
        """`limits`: a gateway.config.LimitsConfig (already validated)."""
        self._per_user = limits.per_user_per_minute
        self._overrides = dict(limits.users)
        self._global = limits.global_per_minute
        self._rules = tuple(_Compiled(rule, action_regex(rule.actions) if rule.actions is not None else None)
                            for rule in limits.rules)
        self._memo: dict[tuple[str, str, str], tuple[LimitRule, ...]] = {}

    def for_request(self, caller: Caller, action: str) -> tuple[LimitRule, ...]:
        """The budgets one request with `action` is checked against, built-in ones first."""
        memo_key = (caller.domain_id, caller.user_id, action)
        rules = self._memo.get(memo_key)
        if rules is None:
            lowered = action.lower()
            rules = tuple(budget.rule for budget, matcher in self._budgets(caller)
                          if matcher is None or matcher.match(lowered) is not None)
            if len(self._memo) >= MAX_MEMO:
                self._memo.clear()
            self._memo[memo_key] = rules
        return rules

    def budgets(self, caller: Caller) -> list[Budget]:
        """Every budget the caller has, whatever the action (the usage endpoint's answer)."""
        return [budget for budget, _ in self._budgets(caller)]

    def _budgets(self, caller: Caller) -> list[tuple[Budget, Pattern[str] | None]]:
        user_key = f"user:{caller.domain_id}:{caller.user_id}"
        per_user = self._overrides.get(caller.user_name, self._per_user)
        found: list[tuple[Budget, Pattern[str] | None]] = [
            (Budget(LimitRule("user", user_key, per_user), "user", None, "enforce"), None),
            (Budget(LimitRule("global", "global", self._global), "global", None, "enforce"), None)]
        for compiled in self._rules:
            rule = compiled.config
            for subject, group in _subjects(rule, caller, user_key):
                name = rule.name if group is None or len(rule.groups) == 1 else f"{rule.name}:{group}"
                limit_rule = LimitRule(name, f"rule:{rule.name}:{subject}", rule.limit, float(rule.window_s),
                                       rule.mode == "report")
                found.append((Budget(limit_rule, rule.per, rule.actions, rule.mode, group, rule.name),
                              compiled.actions))
        return found


def _subjects(rule: Any, caller: Caller, user_key: str) -> list[tuple[str, str | None]]:
    """(store key suffix, group) of each budget of `rule` the caller draws from."""
    if rule.per == "user":
        return [(user_key, None)]
    if rule.per == "domain":
        return [(f"domain:{caller.domain_id}", None)]
    if rule.per == "global":
        return [("global", None)]
    return [(f"group:{caller.domain_id}:{group}", group) for group in rule.groups if group in caller.groups]
