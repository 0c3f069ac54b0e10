"""Condition operators of the IAM policy language: parsing, value checks and evaluation.

Semantics (Huawei IAM, AWS-compatible where Huawei is silent):
- operators AND together, keys under one operator AND together, values of one key OR together;
  a negated operator (StringNotEquals, NotIpAddress, ...) holds when the request value matches
  none of the values.
- an absent key (missing, "" or an empty list) makes a positive operator false and a negated one
  true; the `IfExists` suffix makes any operator true for an absent key.
- `ForAnyValue:` holds when at least one request value satisfies the operator (false when absent),
  `ForAllValues:` when every one does (true when absent). Without a prefix a multi-valued request
  key behaves like ForAnyValue for positive operators and "none matches" for negated ones.
- condition key names and operator names are case-insensitive; string values are case-sensitive
  except in the *IgnoreCase operators.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping

from .patterns import glob_regex

Matcher = Callable[[str], bool]
QUALIFIERS = ("ForAnyValue", "ForAllValues")
IF_EXISTS = "IfExists"
MAX_VALUE_LENGTH = 1024


@dataclass(frozen=True)
class OperatorSpec:
    """One base operator: its value type, whether it is negated, how values match."""

    name: str
    value_type: str          # "string" | "number" | "date" | "bool" | "ip" | "null"
    negated: bool
    build: Callable[[tuple[str, ...]], Matcher]


@dataclass(frozen=True)
class Condition:
    """One (operator, key, values) triple of a statement's Condition block, parsed."""

    operator: str                 # as written, e.g. "ForAnyValue:StringEqualsIfExists"
    base: str                     # canonical base name, e.g. "StringEquals"
    qualifier: str | None         # "ForAnyValue" | "ForAllValues" | None
    if_exists: bool
    key: str                      # as written, e.g. "g:UserName"
    values: tuple[str, ...]


def _number(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def _date(text: str) -> datetime:
    stamp = datetime.fromisoformat(text.strip())
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def _parsed(parse: Callable[[str], object], text: str) -> object | None:
    try:
        return parse(text)
    except ValueError:
        return None


def _compare(parse: Callable[[str], object],
             test: Callable[[object, object], bool]) -> Callable[[tuple[str, ...]], Matcher]:
    """Matcher factory for ordered types: request value `test`s true against any policy value."""
    def build(values: tuple[str, ...]) -> Matcher:
        bounds = [parse(v) for v in values]

        def match(text: str) -> bool:
            seen = _parsed(parse, text)
            return seen is not None and any(test(seen, bound) for bound in bounds)
        return match
    return build


def _equals(values: tuple[str, ...]) -> Matcher:
    return frozenset(values).__contains__


def _equals_ignore_case(values: tuple[str, ...]) -> Matcher:
    folded = frozenset(v.casefold() for v in values)
    return lambda text: text.casefold() in folded


def _like(values: tuple[str, ...]) -> Matcher:
    regexes = [glob_regex(v, question=True) for v in values]
    return lambda text: any(r.match(text) for r in regexes)


def _starts(values: tuple[str, ...]) -> Matcher:
    return lambda text: text.startswith(values)


def _ends(values: tuple[str, ...]) -> Matcher:
    return lambda text: text.endswith(values)


def _bool(values: tuple[str, ...]) -> Matcher:
    wanted = frozenset(v.lower() for v in values)
    return lambda text: text.strip().lower() in wanted


def _ip(values: tuple[str, ...]) -> Matcher:
    networks = [_network(v) for v in values]

    def match(text: str) -> bool:
        address = _parsed(lambda t: ipaddress.ip_address(t.strip()), text)
        return address is not None and any(address in n for n in networks)
    return match


def _never(values: tuple[str, ...]) -> Matcher:
    return lambda text: False


_LT, _LE = (lambda a, b: a < b), (lambda a, b: a <= b)
_GT, _GE = (lambda a, b: a > b), (lambda a, b: a >= b)
_EQ = (lambda a, b: a == b)


def _specs() -> dict[str, OperatorSpec]:
    rows: list[tuple[str, str, bool, Callable[[tuple[str, ...]], Matcher]]] = [
        ("StringEquals", "string", False, _equals),
        ("StringNotEquals", "string", True, _equals),
        ("StringEqualsIgnoreCase", "string", False, _equals_ignore_case),
        ("StringNotEqualsIgnoreCase", "string", True, _equals_ignore_case),
        ("StringLike", "string", False, _like),
        ("StringNotLike", "string", True, _like),
        ("StringMatch", "string", False, _like),
        ("StringNotMatch", "string", True, _like),
        ("StringStartWith", "string", False, _starts),
        ("StringNotStartWith", "string", True, _starts),
        ("StringEndWith", "string", False, _ends),
        ("StringNotEndWith", "string", True, _ends),
        ("NumberEquals", "number", False, _compare(_number, _EQ)),
        ("NumberNotEquals", "number", True, _compare(_number, _EQ)),
        ("NumberLessThan", "number", False, _compare(_number, _LT)),
        ("NumberLessThanEquals", "number", False, _compare(_number, _LE)),
        ("NumberGreaterThan", "number", False, _compare(_number, _GT)),
        ("NumberGreaterThanEquals", "number", False, _compare(_number, _GE)),
        ("DateEquals", "date", False, _compare(_date, _EQ)),
        ("DateNotEquals", "date", True, _compare(_date, _EQ)),
        ("DateLessThan", "date", False, _compare(_date, _LT)),
        ("DateLessThanEquals", "date", False, _compare(_date, _LE)),
        ("DateGreaterThan", "date", False, _compare(_date, _GT)),
        ("DateGreaterThanEquals", "date", False, _compare(_date, _GE)),
        ("Bool", "bool", False, _bool),
        ("IpAddress", "ip", False, _ip),
        ("NotIpAddress", "ip", True, _ip),
        ("IsNullOrEmpty", "null", False, _never),
    ]
    return {name.lower(): OperatorSpec(name, kind, negated, build)
            for name, kind, negated, build in rows}


OPERATORS: Mapping[str, OperatorSpec] = _specs()
_VALUE_CHECKS: Mapping[str, Callable[[str], object]] = {
    "number": _number, "date": _date, "ip": _network,
    "bool": lambda t: {"true": True, "false": False}[t.lower()],
    "null": lambda t: {"true": True, "false": False}[t.lower()],
}


def split_operator(operator: str) -> tuple[str | None, OperatorSpec | None, bool]:
    """(qualifier, base spec or None when unknown, if_exists) for an operator as written."""
    qualifier, _, rest = operator.rpartition(":")
    canonical_qualifier = next((q for q in QUALIFIERS if q.lower() == qualifier.lower()), None)
    if qualifier and canonical_qualifier is None:
        return qualifier, None, False
    if_exists = rest.lower().endswith(IF_EXISTS.lower()) and rest.lower() != IF_EXISTS.lower()
    base = rest[: -len(IF_EXISTS)] if if_exists else rest
    return canonical_qualifier, OPERATORS.get(base.lower()), if_exists


def value_problems(spec: OperatorSpec, values: tuple[str, ...]) -> Iterable[tuple[int, str]]:
    """(index, message) for every value the operator cannot use."""
    check = _VALUE_CHECKS.get(spec.value_type)
    for index, value in enumerate(values):
        if not 1 <= len(value) <= MAX_VALUE_LENGTH:
            yield index, f"value length must be 1-{MAX_VALUE_LENGTH} characters"
        elif check is not None:
            try:
                check(value)
            except (ValueError, KeyError):
                yield index, f"{value!r} is not a valid {spec.value_type} value for {spec.name}"
    if spec.value_type == "null" and len(values) != 1:
        yield 0, "IsNullOrEmpty takes exactly one value, 'true' or 'false'"


@dataclass(frozen=True)
class CompiledCondition:
    """A condition ready to evaluate against a normalized context (lowercased keys)."""

    key: str
    qualifier: str | None
    if_exists: bool
    negated: bool
    null_check: bool | None      # IsNullOrEmpty: wanted emptiness; None for other operators
    match: Matcher

    def holds(self, context: "ContextView") -> bool:
        seen = context.get(self.key)
        if self.null_check is not None:
            return (seen is None) == self.null_check
        if seen is None:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            return self.negated and self.qualifier is None
        if self.qualifier == "ForAllValues":
            return all(self.match(v) != self.negated for v in seen)
        if self.qualifier == "ForAnyValue":
            return any(self.match(v) != self.negated for v in seen)
        return any(self.match(v) for v in seen) != self.negated


def compile_condition(condition: Condition) -> CompiledCondition:
    """Build the matcher once, at compile time; the hot path only calls it."""
    spec = OPERATORS[condition.base.lower()]
    null_check = condition.values[0].lower() == "true" if spec.value_type == "null" else None
    return CompiledCondition(condition.key.lower(), condition.qualifier, condition.if_exists,
                             spec.negated, null_check, spec.build(condition.values))


def _text(value: object) -> str:
    """Context values as strings; booleans the way policies write them ("true"/"false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


class ContextView:
    """Case-insensitive, lazily converted view of a request context.

    Only the keys a condition asks for are converted (to a tuple of non-empty strings), once per
    request; absent-equivalent values ("" / []) read as None.
    """

    __slots__ = ("_raw", "_index", "_seen")

    def __init__(self, context: Mapping[str, object]) -> None:
        self._raw = context
        self._index = {key.lower(): key for key in context}
        self._seen: dict[str, tuple[str, ...] | None] = {}

    def get(self, lowered_key: str) -> tuple[str, ...] | None:
        if lowered_key in self._seen:
            return self._seen[lowered_key]
        original = self._index.get(lowered_key)
        values = None if original is None else _values(self._raw[original])
        self._seen[lowered_key] = values
        return values


def _values(value: object) -> tuple[str, ...] | None:
    items = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    values = tuple(v for v in map(_text, items) if v != "")
    return values or None
