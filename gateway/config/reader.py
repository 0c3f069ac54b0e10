"""Reading raw YAML data with paths, collecting every problem instead of stopping at the first.

A `Node` wraps one mapping at a path (`iam.domains[0].users[1]`). Each typed getter records
which keys were read; `finish()` then reports every key nobody read as unknown, so the set of
accepted keys is exactly the set the parser asks for and a typo can never be silently ignored.
A getter that finds a problem records it and returns the default, so parsing goes on and one run
reports everything. Values are never echoed in messages: they might be secrets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, TypeVar

T = TypeVar("T")
ROOT = "<root>"
MISSING: Any = object()   # returned by `typed` when a value is absent or unusable

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a mapping", type(None): "null"}


def type_name(value: object) -> str:
    """YAML-ish name of a value's type, for messages."""
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return key if path in ("", ROOT) else f"{path}.{key}"


@dataclass
class Problems:
    """The problems found in one parse; lives only for that parse."""

    items: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path or ROOT}: {message}")


class Node:
    """One mapping of the raw config at `path`."""

    def __init__(self, data: Mapping[Any, Any], path: str, problems: Problems) -> None:
        self.data = data
        self.path = path
        self.problems = problems
        self._read: set[str] = set()

    @classmethod
    def of(cls, value: object, path: str, problems: Problems) -> "Node | None":
        """A Node over `value`, or None (with a problem recorded) when it is not a mapping."""
        if isinstance(value, Mapping):
            return cls(value, path, problems)
        problems.add(path, f"expected a mapping, got {type_name(value)}")
        return None

    def at(self, key: str | int) -> str:
        return join(self.path, key)

    def problem(self, key: str | None, message: str) -> None:
        self.problems.add(self.at(key) if key is not None else self.path, message)

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        """The value (None if absent or null); marks the key as known."""
        self._read.add(key)
        return self.data.get(key)

    def typed(self, key: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
        """The value if present and of `kind`; else MISSING (with a problem when it is wrong)."""
        value = self.raw(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return MISSING
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            self.problem(key, f"expected {_kind_name(kind)}, got a boolean")
            return MISSING
        if not isinstance(value, kind):
            self.problem(key, f"expected {_kind_name(kind)}, got {type_name(value)}")
            return MISSING
        return value

    def string(self, key: str, default: Any = None, *, required: bool = False,
               pattern: str | None = None, choices: tuple[str, ...] | None = None,
               what: str = "value") -> Any:
        value = self.typed(key, str, required=required)
        if value is MISSING:
            return default
        if value == "":
            self.problem(key, "must not be empty")
            return default
        if choices is not None and value not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}")
            return default
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(key, f"not a valid {what}")
            return default
        return value

    def integer(self, key: str, default: int, *, minimum: int = 1,
                maximum: int | None = None, required: bool = False) -> int:
        value = self.typed(key, int, required=required)
        if value is MISSING:
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.problem(key, f"must be {bound}")
            return default
        return int(value)

    def number(self, key: str, default: float) -> float:
        """A positive number (YAML int or float)."""
        value = self.typed(key, (int, float))
        if value is MISSING:
            return default
        if not value > 0:
            self.problem(key, "must be > 0")
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.typed(key, bool)
        return default if value is MISSING else bool(value)

    def child(self, key: str) -> "Node | None":
        """The sub-mapping at `key`, or None when absent/null or not a mapping."""
        value = self.raw(key)
        return None if value is None else Node.of(value, self.at(key), self.problems)

    def items(self, key: str) -> Iterator[tuple[str, Any]]:
        """(path, item) for each element of the list at `key` (nothing if absent)."""
        value = self.typed(key, list)
        for index, item in enumerate(() if value is MISSING else value):
            yield join(self.at(key), index), item

    def nodes(self, key: str) -> Iterator[Node]:
        """A Node for each mapping in the list at `key`; non-mappings are reported."""
        for path, item in self.items(key):
            node = Node.of(item, path, self.problems)
            if node is not None:
                yield node

    def strings(self, key: str, *, pattern: str | None = None,
                what: str = "value") -> tuple[str, ...] | None:
        """The list of non-empty strings at `key`, or None when absent."""
        if self.raw(key) is None:
            return None
        return tuple(item for _, item in self.located_strings(key, pattern=pattern, what=what))

    def located_strings(self, key: str, *, pattern: str | None = None,
                        what: str = "value") -> list[tuple[str, str]]:
        """(path, string) for each valid element of the list at `key`; bad ones are reported."""
        found: list[tuple[str, str]] = []
        for path, item in self.items(key):
            if not isinstance(item, str) or not item:
                self.problems.add(path, f"expected a non-empty string, got {type_name(item)}")
            elif pattern is not None and not re.fullmatch(pattern, item):
                self.problems.add(path, f"not a valid {what}")
            else:
                found.append((path, item))
        return found

    def exclusive(self, keys: tuple[str, ...], *, required: bool) -> str | None:
        """The one key of `keys` that is set; reports none-set (if required) and several-set."""
        present = [key for key in keys if self.has(key)]
        if len(present) > 1:
            for extra in present[1:]:
                self.problem(extra, f"conflicts with {present[0]}: set only one of {', '.join(keys)}")
            return None
        if not present and required:
            self.problem(None, f"one of {', '.join(keys)} is required")
        return present[0] if present else None

    def finish(self) -> None:
        """Report every key that no getter asked for."""
        for key in self.data:
            if key not in self._read:
                shown = key if isinstance(key, str) else repr(key)
                self.problems.add(self.at(str(shown)), "unknown key")


def collect(nodes: Iterator[Node], build: Callable[[Node], T | None]) -> tuple[T, ...]:
    """Build an item from each node, dropping those that failed (their problems are recorded)."""
    built = (build(node) for node in nodes)
    return tuple(item for item in built if item is not None)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in _as_tuple(kind))
