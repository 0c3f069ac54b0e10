"""`ddm-gateway limits explain`: which budgets a request would be checked against, and why not the others.

Uses the gateway's own RuleSet, so the answer is the one the rate-limit stage computes.
"""
from __future__ import annotations

import argparse
import sys

from .limits.ruleset import Budget
from .pipeline.ratelimit import window_text
from .policy_tools import runtime_and_user
from .principal import AUTH_TOKEN, Principal


def explain(args: argparse.Namespace) -> int:
    found = runtime_and_user(args.config, args.user, args.domain)
    if found is None:
        return 2
    runtime, identity = found
    if args.action not in runtime.catalog.registered_actions():
        print(f"note: no route has the action {args.action!r}", file=sys.stderr)
    caller = Principal(identity.domain.id, identity.domain.name, identity.user_id, identity.user_name,
                       identity.groups, identity.domain_owner, AUTH_TOKEN, "127.0.0.1")
    applying = runtime.rules.for_request(caller, args.action)
    budgets = runtime.rules.budgets(caller)
    print(f"{identity.user_name} ({identity.domain.name}) doing {args.action}: "
          f"{len(applying)} budgets, checked and recorded in one store round trip")
    for budget in budgets:
        if budget.rule in applying:
            print("  " + describe(budget))
    skipped = [b for b in budgets if b.rule not in applying]
    drawn_from = {b.configured for b in budgets}
    outsiders = [r for r in runtime.config.limits.rules if r.name not in drawn_from]
    if skipped or outsiders:
        print("not applying:")
    for budget in skipped:
        print(f"  {budget.rule.name}: the action matches none of {', '.join(budget.actions or ())}")
    for rule in outsiders:
        print(f"  {rule.name}: {identity.user_name} is in none of the groups {', '.join(rule.groups)}")
    return 0


SCOPES = {"user": "the user's own", "domain": "shared by the domain", "global": "shared by everyone"}


def describe(budget: Budget) -> str:
    rule = budget.rule
    scope = f"shared by group {budget.group}" if budget.group is not None else SCOPES[budget.per]
    actions = f"; actions {', '.join(budget.actions)}" if budget.actions is not None else ""
    return f"{rule.name:<16} {budget.mode:<8} {rule.limit} per {window_text(rule.window_s)}, {scope}{actions}"
