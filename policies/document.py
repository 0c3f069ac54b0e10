"""Policy documents: validation with IAM's documented limits, and parsing into frozen data.

Validation reports every problem with a JSON-path-like location ("Statement[1].Action[0]: ...",
indexes 0-based), so `config check` can list them all. Limits mirror Huawei IAM's custom-policy
API error table: IAM.1021 (<= 6,144 characters), IAM.1028 (1-8 statements), IAM.1031 (Action xor
NotAction), IAM.1032 (NotAction not with Allow in 1.1), IAM.1033/1034 (<= 100 actions, <= 128
characters each), IAM.1037 (1-20 resources, <= 1,500 characters), IAM.1050 (<= 10 conditions).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Collection

from .conditions import Condition, split_operator, value_problems
from .errors import PolicyError
from .patterns import ACTION_SEGMENTS, URN_SEGMENTS, action_regex

VERSIONS = ("1.1", "5.0")
EFFECTS = {"allow": "Allow", "deny": "Deny"}
MAX_DOCUMENT_CHARS = 6144
MAX_STATEMENTS = 8
MAX_ACTIONS = 100
MAX_ACTION_CHARS = 128
MAX_RESOURCES = 20
MAX_RESOURCE_CHARS = 1500
MAX_CONDITIONS = 10
DOCUMENT_KEYS = frozenset({"Version", "Statement"})
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "Condition"})
_SERVICE = re.compile(r"[a-z0-9*_-]+\Z")
_SEGMENT = re.compile(r"[A-Za-z0-9*_.-]+\Z")


@dataclass(frozen=True)
class Statement:
    """One statement, parsed: effect normalized to "Allow"/"Deny", lists as tuples."""

    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    sid: str | None = None


@dataclass(frozen=True)
class Policy:
    """A named, validated policy; the unit grants refer to."""

    name: str
    statements: tuple[Statement, ...]
    version: str = "1.1"


Report = Callable[[str, str], None]


def validate_document(document: object, *,
                      known_actions: Collection[str] | None = None) -> list[str]:
    """Every problem of a policy document as "path: message"; [] when it is valid.

    With `known_actions` (e.g. `registered_actions()` of the route catalog) an action of a
    service listed there must name a registered action, or as a pattern match at least one
    (IAM.1036 "Action has not been registered"), so a typo such as `ddm:instance:delet` is
    refused instead of silently granting nothing.
    """
    problems: list[str] = []
    data = _loaded(document, problems)
    if not problems:
        _check_document(data, lambda path, msg: problems.append(f"{path}: {msg}"))
    if not problems and known_actions is not None:
        problems.extend(_unregistered(data["Statement"], known_actions))
    return problems


def _unregistered(statements: list[dict[str, Any]], known: Collection[str]) -> list[str]:
    services = {action.split(":")[0] for action in known}
    problems = []
    for index, statement in enumerate(statements):
        for field in ("Action", "NotAction"):
            value = statement.get(field, [])
            for position, action in enumerate([value] if isinstance(value, str) else value):
                pattern = action_regex((action,))
                if action.split(":")[0] in services and not any(pattern.match(k.lower()) for k in known):
                    problems.append(f"Statement[{index}].{field}[{position}]: "
                                    f"Action '{action}' has not been registered.")
    return problems


def parse_policy(name: str, document: object) -> Policy:
    """The frozen Policy for a document (dict or JSON text); PolicyError lists all problems."""
    problems = validate_document(document)
    if problems:
        raise PolicyError([f"policy {name!r}: {p}" for p in problems])
    data = _loaded(document, [])
    return Policy(name, tuple(_statement(s) for s in data["Statement"]), data["Version"])


def _loaded(document: object, problems: list[str]) -> Any:
    """JSON text is accepted too (the IAM API takes the policy as JSON)."""
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except ValueError as err:
        problems.append(f"(document): not valid JSON: {err}")
        return None


def _check_document(data: Any, report: Report) -> None:
    if not isinstance(data, dict):
        report("(document)", "must be a JSON object with Version and Statement")
        return
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str))
    if size > MAX_DOCUMENT_CHARS:
        report("(document)", f"is {size} characters; at most {MAX_DOCUMENT_CHARS} are allowed")
    for key in sorted(set(data) - DOCUMENT_KEYS, key=str):
        report(str(key), "unknown element (expected Version, Statement)")
    version = data.get("Version")
    if version not in VERSIONS:
        report("Version", f"is required and must be one of {', '.join(VERSIONS)}"
               + ("" if version is None else f" (got {version!r})"))
    statements = data.get("Statement")
    if not isinstance(statements, list) or not 1 <= len(statements) <= MAX_STATEMENTS:
        report("Statement", f"must be a list of 1-{MAX_STATEMENTS} statements")
        return
    for index, statement in enumerate(statements):
        _check_statement(statement, f"Statement[{index}]", version, report)


def _check_statement(statement: Any, path: str, version: Any, report: Report) -> None:
    if not isinstance(statement, dict):
        report(path, "must be an object")
        return
    for key in sorted(set(statement) - STATEMENT_KEYS, key=str):
        report(f"{path}.{key}", "unknown element")
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in EFFECTS:
        report(f"{path}.Effect", "is required and must be 'Allow' or 'Deny'")
    sid = statement.get("Sid")
    if sid is not None and not isinstance(sid, str):
        report(f"{path}.Sid", "must be a string")
    has_action, has_not = "Action" in statement, "NotAction" in statement
    if has_action == has_not:
        report(path, "needs exactly one of Action or NotAction")
    if has_not and version == "1.1" and isinstance(effect, str) and effect.lower() == "allow":
        report(f"{path}.NotAction", "cannot be used with Effect 'Allow' in a version 1.1 policy")
    for field in ("Action", "NotAction"):
        if field in statement:
            _check_actions(statement[field], f"{path}.{field}", report)
    if "Resource" in statement:
        _check_resources(statement["Resource"], f"{path}.Resource", report)
    if "Condition" in statement:
        _check_conditions(statement["Condition"], f"{path}.Condition", report)


def _string_list(value: Any, path: str, report: Report, limit: int,
                 what: str) -> list[tuple[int, str]]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        report(path, f"must be a list of 1-{limit} {what}")
        return []
    good: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            good.append((index, item))
        else:
            report(f"{path}[{index}]", "must be a string")
    return good


def _check_actions(value: Any, path: str, report: Report) -> None:
    for index, action in _string_list(value, path, report, MAX_ACTIONS, "actions"):
        problem = action_problem(action)
        if problem:
            report(f"{path}[{index}]", problem)


def action_problem(action: str) -> str | None:
    """Why `action` is not a valid `service:resourceType:operation` pattern, or None."""
    if len(action) > MAX_ACTION_CHARS:
        return f"is longer than {MAX_ACTION_CHARS} characters"
    parts = action.split(":")
    if len(parts) != ACTION_SEGMENTS or not all(parts):
        return f"{action!r} must have the form service:resourceType:operation"
    if not _SERVICE.match(parts[0]):
        return f"service {parts[0]!r} must be lowercase letters, digits, '-', '_' or '*'"
    if not all(_SEGMENT.match(p) for p in parts[1:]):
        return f"{action!r} may only use letters, digits, '.', '-', '_' and '*' after the service"
    return None


def _check_resources(value: Any, path: str, report: Report) -> None:
    for index, urn in _string_list(value, path, report, MAX_RESOURCES, "resource URNs"):
        parts = urn.split(":", URN_SEGMENTS - 1)
        if len(urn) > MAX_RESOURCE_CHARS:
            report(f"{path}[{index}]", f"is longer than {MAX_RESOURCE_CHARS} characters")
        elif len(parts) != URN_SEGMENTS or not parts[0] or not parts[3] or not parts[4]:
            report(f"{path}[{index}]",
                   f"{urn!r} must have the form service:region:domain_id:resourceType:id")


def _check_conditions(value: Any, path: str, report: Report) -> None:
    if not isinstance(value, dict) or not value:
        report(path, "must be a non-empty object of operator -> {key: [values]}")
        return
    count = 0
    for operator, keys in value.items():
        qualifier, spec, _ = split_operator(str(operator))
        where = f"{path}.{operator}"
        if spec is None:
            report(where, "unknown condition operator")
        if not isinstance(keys, dict) or not keys:
            report(where, "must be a non-empty object of condition key -> values")
            continue
        for key, values in keys.items():
            count += 1
            if not isinstance(key, str) or not key:
                report(where, "condition keys must be non-empty strings")
                continue
            texts = _condition_values(values, f"{where}.{key}", report)
            if spec is not None and texts is not None:
                for index, message in value_problems(spec, texts):
                    report(f"{where}.{key}[{index}]", message)
    if count > MAX_CONDITIONS:
        report(path, f"has {count} conditions; at most {MAX_CONDITIONS} are allowed")


def _condition_values(values: Any, path: str, report: Report) -> tuple[str, ...] | None:
    items = values if isinstance(values, list) else [values]
    if not items or not all(isinstance(v, (str, int, float, bool)) for v in items):
        report(path, "must be a non-empty list of strings")
        return None
    return tuple(_scalar_text(v) for v in items)


def _scalar_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _statement(data: dict[str, Any]) -> Statement:
    def strings(field: str) -> tuple[str, ...]:
        value = data.get(field, ())
        return (value,) if isinstance(value, str) else tuple(value)

    conditions = tuple(_condition(op, key, values)
                       for op, keys in data.get("Condition", {}).items()
                       for key, values in keys.items())
    return Statement(EFFECTS[data["Effect"].lower()], strings("Action"), strings("NotAction"),
                     strings("Resource"), conditions, data.get("Sid"))


def _condition(operator: str, key: str, values: Any) -> Condition:
    qualifier, spec, if_exists = split_operator(operator)
    assert spec is not None  # validated before parsing
    items = values if isinstance(values, list) else [values]
    return Condition(operator, spec.name, qualifier, if_exists, key,
                     tuple(_scalar_text(v) for v in items))
