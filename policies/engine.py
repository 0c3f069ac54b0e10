"""Decisions: compile a principal's policies once, then answer allow/deny fast.

Evaluation follows Huawei IAM: the domain owner (the account itself) may do everything;
otherwise any applicable Deny denies, else any applicable Allow allows, else the request is
implicitly denied. A statement applies when its Action (or NotAction) covers the action, its
Resource (if any) covers the resource, and every condition holds; a statement whose condition
does not hold neither allows nor denies.

Resources: a statement without Resource covers every resource. A request that names no resource
(list/create routes) is covered only by a Resource entry whose id part is `*`, i.e. one that
already grants every resource of its type.

Dependent actions such as `ecs:*:get*` are decided as literal action strings: `*` in the request
is an ordinary character, so a statement covers the dependency only if its pattern covers the
whole dependency pattern (Allow `ecs:*:*` covers it; Allow `ecs:cloudServers:get` does not).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, NamedTuple, Pattern, Sequence

from .conditions import CompiledCondition, ContextView, compile_condition
from .document import Policy, Statement
from .patterns import action_regex, resource_regex

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, OWNER = "allow", "explicit_deny", "implicit_deny", "owner"
# The condition key holding the enterprise project of the resource (for a create, the target's).
ENTERPRISE_PROJECT_KEY = "g:EnterpriseProjectId"
MAX_MEMO_ACTIONS = 4096


_NO_CONTEXT: Mapping[str, str | Sequence[str]] = MappingProxyType({})


class AuthzRequest(NamedTuple):
    """What is asked: one action, on one resource URN (or none), in a context of condition keys.
    (NamedTuples here: immutable, and cheap enough to build for every request.)"""

    action: str
    resource: str | None
    context: Mapping[str, str | Sequence[str]] = _NO_CONTEXT


class Decision(NamedTuple):
    """The answer plus the (policy name, statement index) pairs that produced it.

    explicit_deny lists every applicable Deny statement; allow names the first applicable Allow
    found (statements without conditions are tried first, so the hot path stays cheap);
    implicit_deny and owner name none.
    """

    allowed: bool
    effect: str
    deciding: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class CompiledStatement:
    """A statement with its patterns and conditions turned into ready matchers."""

    origin: tuple[str, int]
    deny: bool
    actions: Pattern[str]
    negate_actions: bool
    resources: tuple[Pattern[str], ...]
    covers_unnamed_resource: bool
    conditions: tuple[CompiledCondition, ...]

    def covers_action(self, lowered_action: str) -> bool:
        return (self.actions.match(lowered_action) is not None) != self.negate_actions

    def covers_resource(self, resource: str | None) -> bool:
        if not self.resources:
            return True
        if resource is None:
            return self.covers_unnamed_resource
        return any(r.match(resource) for r in self.resources)


def compile_statement(policy_name: str, index: int, statement: Statement) -> CompiledStatement:
    """Compile one statement; the regexes are built here and never on the hot path."""
    patterns = statement.not_actions or statement.actions
    return CompiledStatement(
        origin=(policy_name, index),
        deny=statement.effect == "Deny",
        actions=action_regex(patterns),
        negate_actions=bool(statement.not_actions),
        resources=tuple(resource_regex(r) for r in statement.resources),
        covers_unnamed_resource=any(r.split(":", 4)[-1] == "*" for r in statement.resources),
        conditions=tuple(compile_condition(c) for c in statement.conditions),
    )


_Candidates = tuple[tuple[CompiledStatement, ...], tuple[CompiledStatement, ...]]
_OWNER_DECISION = Decision(True, OWNER)
_IMPLICIT_DENY = Decision(False, IMPLICIT_DENY)


class CompiledPolicies:
    """The policies of one principal in one project, compiled for fast repeated decisions.

    Immutable after construction except for a bounded memo of action -> candidate statements;
    the memo only ever caches pure results, so concurrent use (threads or tasks) is safe.
    """

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.policies: tuple[Policy, ...] = tuple(policies)
        self.statements: tuple[CompiledStatement, ...] = tuple(
            compile_statement(p.name, i, s) for p in self.policies for i, s in enumerate(p.statements))
        self._memo: dict[str, _Candidates] = {}

    def conditions_on(self, key: str) -> bool:
        """Whether any statement has a condition on `key` (names are case-insensitive), i.e.
        whether a decision can depend on it."""
        lowered = key.lower()
        return any(c.key.lower() == lowered
                   for p in self.policies for s in p.statements for c in s.conditions)

    def decide(self, request: AuthzRequest, *, domain_owner: bool = False) -> Decision:
        """Owner, else explicit deny, else allow, else implicit deny."""
        if domain_owner:
            return _OWNER_DECISION
        denies, allows = self._candidates(request.action)
        if not denies and not allows:
            return _IMPLICIT_DENY
        evaluation = _Evaluation(request)
        denied = tuple(s.origin for s in denies if evaluation.applies(s))
        if denied:
            return Decision(False, EXPLICIT_DENY, denied)
        granting = next((s for s in allows if evaluation.applies(s)), None)
        return _IMPLICIT_DENY if granting is None else Decision(True, ALLOW, (granting.origin,))

    def _candidates(self, action: str) -> _Candidates:
        """Statements whose Action/NotAction covers `action`, split into (denies, allows)."""
        found = self._memo.get(action)
        if found is None:
            lowered = action.lower()
            matching = [s for s in self.statements if s.covers_action(lowered)]
            allows = sorted((s for s in matching if not s.deny), key=_evaluation_cost)
            found = (tuple(s for s in matching if s.deny), tuple(allows))
            if len(self._memo) < MAX_MEMO_ACTIONS:
                self._memo[action] = found
        return found


def _evaluation_cost(statement: CompiledStatement) -> int:
    """Rough cost rank: plain statements, then resource checks, then conditions."""
    return 2 * len(statement.conditions) + (1 if statement.resources else 0)


class _Evaluation:
    """Per-request state: the context is normalized at most once, and only if needed."""

    __slots__ = ("request", "_context")

    def __init__(self, request: AuthzRequest) -> None:
        self.request = request
        self._context: ContextView | None = None

    def applies(self, statement: CompiledStatement) -> bool:
        if not statement.covers_resource(self.request.resource):
            return False
        if not statement.conditions:
            return True
        if self._context is None:
            self._context = ContextView(self.request.context)
        context = self._context
        return all(c.holds(context) for c in statement.conditions)
