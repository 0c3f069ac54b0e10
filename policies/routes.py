"""The DDM route catalog: which operation a (method, path) is and which IAM action it needs.

The table lives in routes.yaml (data, validated at load). Matching is on the hot path, so the
rows are indexed once into one trie per HTTP method: literal segments are tried before route
variables, a variable is a whole non-empty segment, and nothing is tried that cannot match.
An unknown route yields None (the gateway answers 404 APIGW.0101), never a default action.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import yaml

from .document import action_problem
from .errors import PolicyError

ROUTES_FILE = Path(__file__).with_name("routes.yaml")
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})
SOURCES = frozenset({"ch5", "rule", "public"})
# How a route finds the enterprise project its decision is made in (routes.yaml
# `enterprise_project_scopes`): the path's instance, the create body, item by item in a list,
# any enterprise project of the caller (catalog reads), none (IAM-project grants only), public.
EP_INSTANCE, EP_CREATE, EP_LIST, EP_CATALOG, EP_PROJECT, EP_PUBLIC = (
    "instance", "create", "list", "catalog", "project", "public")
EP_SCOPES = (EP_INSTANCE, EP_CREATE, EP_LIST, EP_CATALOG, EP_PROJECT, EP_PUBLIC)


class EnterpriseProjectScope(NamedTuple):
    """One route's enterprise-project classification, with the data its kind needs."""

    kind: str
    why: str
    body_field: tuple[str, ...] = ()     # create: the JSON path of enterprise_project_id
    items: str = ""                      # list: the key of the item array
    totals: tuple[str, ...] = ()         # list: the count fields (besides the page fields)
    learn: bool = False                  # instance: its answer reports the instance's EP
    forget: bool = False                 # instance: success deletes the instance


# Without a classification a route is covered by IAM-project grants only (never wider).
UNCLASSIFIED = EnterpriseProjectScope(EP_PROJECT, "not classified")


@dataclass(frozen=True)
class RouteRow:
    """One catalog row as written in routes.yaml, with its dependencies resolved."""

    method: str
    path: str
    operation: str
    action: str | None
    section: str | None
    resource_type: str | None
    resource_param: str | None
    dependencies: tuple[str, ...]
    source: str
    why: str | None = None
    enterprise_project: EnterpriseProjectScope = UNCLASSIFIED

    @property
    def template(self) -> tuple[str, ...]:
        """Path split like request segments: "/" -> ("",), "/v1/{p}" -> ("", "v1", "{p}")."""
        return ("",) if self.path == "/" else tuple(self.path.split("/"))

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(s[1:-1] for s in self.template if _is_variable(s))

    @property
    def version(self) -> str:
        """Which error shape the route uses: the major API version ("v1" for GET /)."""
        first = self.template[1] if len(self.template) > 1 else "v1"
        return first.split(".")[0]

    @property
    def gateway_choice(self) -> bool:
        return self.source == "rule"


@dataclass(frozen=True)
class RouteMatch:
    """A request resolved to its catalog row and the values of the row's path parameters."""

    operation: str
    action: str                       # "" only for the unauthenticated GET /
    version: str
    project_id: str | None
    resource_type: str | None
    resource_id: str | None
    params: Mapping[str, str]
    dependencies: tuple[str, ...]
    authenticated: bool
    gateway_choice: bool
    enterprise_project: EnterpriseProjectScope = UNCLASSIFIED
    bad_parameter: str | None = None  # the first parameter not of its allowed form (parameter_forms)


@dataclass
class _Node:
    literals: dict[str, "_Node"] = field(default_factory=dict)
    variable: "_Node | None" = None
    row: RouteRow | None = None


def _is_variable(segment: str) -> bool:
    return len(segment) > 2 and segment[0] == "{" and segment[-1] == "}"


MATCH_MEMO_ENTRIES = 4096   # recently matched (method, path) pairs kept per catalog
MATCH_MEMO_MAX_SEGMENT = 128  # longer path parameters are matched, not memoized (bounded memory)


class RouteCatalog:
    """Immutable after construction (but for a memo of pure results); `match` is safe to call
    concurrently."""

    def __init__(self, rows: list[RouteRow], condition_keys: Mapping[str, str],
                 parameter_forms: "ParameterForms | None" = None) -> None:
        self._rows = tuple(rows)
        self._condition_keys = dict(condition_keys)
        self._forms = parameter_forms or ParameterForms({}, None)
        self._tries: dict[str, _Node] = {}
        self._memo: dict[tuple[str, tuple[str, ...]], RouteMatch] = {}
        problems = [p for row in self._rows for p in self._insert(row)]
        if problems:
            raise PolicyError(problems)

    @classmethod
    def load_default(cls) -> "RouteCatalog":
        """The catalog shipped in policies/routes.yaml."""
        return cls.from_document(yaml.safe_load(ROUTES_FILE.read_text(encoding="utf-8")))

    @classmethod
    def from_document(cls, data: Any) -> "RouteCatalog":
        """Validate a routes document (the routes.yaml shape); PolicyError lists all problems."""
        problems: list[str] = []
        rows = _rows(data, problems)
        if not problems and data.get("enterprise_project_scopes") is not None:
            rows = _classified(rows, data["enterprise_project_scopes"], problems)
        forms = _parameter_forms(data.get("parameter_forms") if isinstance(data, dict) else None, problems)
        if problems:
            raise PolicyError(problems)
        return cls(rows, data.get("condition_keys") or {}, forms)

    def registered_actions(self) -> frozenset[str]:
        """Every action a route names (for validate_document(known_actions=...))."""
        return frozenset(row.action for row in self._rows if row.action)

    def operations(self) -> list[RouteRow]:
        """Every row, in file order (for tests and documentation)."""
        return list(self._rows)

    def match(self, method: str, segments: tuple[str, ...]) -> RouteMatch | None:
        """The route for a decoded path split on "/" (leading "" included), or None.

        Matches are immutable and a client repeats its paths, so found ones are memoized (a
        bounded dict, emptied when full: misses, e.g. a scan of random paths, are never kept)."""
        key = (method, segments)
        found = self._memo.get(key)
        if found is None:
            found = self._match(method, segments)
            if found is not None and all(len(s) <= MATCH_MEMO_MAX_SEGMENT for s in segments):
                if len(self._memo) >= MATCH_MEMO_ENTRIES:
                    self._memo.clear()
                self._memo[key] = found
        return found

    def _match(self, method: str, segments: tuple[str, ...]) -> RouteMatch | None:
        if not segments or segments[0] != "":
            return None
        if len(segments) > 1 and segments[-1] == "":
            segments = segments[:-1]
        root = self._tries.get(method.upper())
        if root is None:
            return None
        values: list[str] = []
        row = _walk(root, segments, 1, values)
        if row is None:
            return None
        found = _matched(row, values)
        params = found.params.items()
        bad = next((name for name, value in params if not self.allows_parameter(name, value)), None)
        return found if bad is None else replace(found, bad_parameter=bad)

    def allows_parameter(self, name: str, value: str) -> bool:
        """Whether `value` is of the form routes.yaml `parameter_forms` gives parameter `name`."""
        return self._forms.allows(name, value)

    def resource_urn(self, match: RouteMatch, *, region: str, domain_id: str) -> str | None:
        """ddm:<region>:<domain_id>:<type>:<id> for the resource the route names, else None."""
        if match.resource_type is None or match.resource_id is None:
            return None
        return f"ddm:{region}:{domain_id}:{match.resource_type}:{match.resource_id}"

    def condition_keys(self, match: RouteMatch) -> dict[str, str]:
        """Request condition keys from path parameters (ddm:InstanceId, ddm:DatabaseName, ...)."""
        return {self._condition_keys[name]: value for name, value in match.params.items()
                if name in self._condition_keys}

    def _insert(self, row: RouteRow) -> list[str]:
        node = self._tries.setdefault(row.method, _Node())
        for segment in row.template[1:]:
            if _is_variable(segment):
                node.variable = node.variable or _Node()
                node = node.variable
            else:
                node = node.literals.setdefault(segment, _Node())
        if node.row is not None:
            return [f"routes: {row.method} {row.path} has the same shape as {node.row.path}"]
        node.row = row
        return []


def _walk(node: _Node, segments: tuple[str, ...], index: int, values: list[str]) -> RouteRow | None:
    """Depth-first, literal before variable; `values` collects variable segments on success."""
    if index == len(segments):
        return node.row
    segment = segments[index]
    literal = node.literals.get(segment)
    if literal is not None:
        found = _walk(literal, segments, index + 1, values)
        if found is not None:
            return found
    if node.variable is not None and segment:
        values.append(segment)
        found = _walk(node.variable, segments, index + 1, values)
        if found is not None:
            return found
        values.pop()
    return None


def _matched(row: RouteRow, values: list[str]) -> RouteMatch:
    params = MappingProxyType(dict(zip(row.variables, values)))
    return RouteMatch(
        operation=row.operation, action=row.action or "", version=row.version,
        project_id=params.get("project_id"), resource_type=row.resource_type,
        resource_id=params.get(row.resource_param) if row.resource_param else None,
        params=params, dependencies=row.dependencies, authenticated=row.action is not None,
        gateway_choice=row.gateway_choice, enterprise_project=row.enterprise_project)


@dataclass(frozen=True)
class ParameterForms:
    """Each path parameter's allowed form (a compiled pattern), and the form of unlisted ones."""

    by_parameter: Mapping[str, "re.Pattern[str]"]
    default: "re.Pattern[str] | None"

    def allows(self, name: str, value: str) -> bool:
        form = self.by_parameter.get(name, self.default)
        return form is None or form.fullmatch(value) is not None


def _parameter_forms(data: Any, problems: list[str]) -> ParameterForms:
    if data is None:
        return ParameterForms({}, None)
    if not isinstance(data, dict) or not isinstance(data.get("forms"), dict):
        problems.append("parameter_forms: must be a mapping with a 'forms' mapping")
        return ParameterForms({}, None)
    compiled: dict[str, re.Pattern[str]] = {}
    for name, pattern in data["forms"].items():
        try:
            compiled[name] = re.compile(str(pattern))
        except re.error as err:
            problems.append(f"parameter_forms.forms.{name}: not a regular expression ({err})")

    def form(path: str, name: Any) -> "re.Pattern[str] | None":
        if name not in compiled:
            problems.append(f"{path}: unknown form {name!r}")
            return None
        return compiled[name]
    default = form("parameter_forms.default", data["default"]) if "default" in data else None
    parameters = {param: found for param, name in (data.get("parameters") or {}).items()
                  if (found := form(f"parameter_forms.parameters.{param}", name)) is not None}
    return ParameterForms(MappingProxyType(parameters), default)


def _rows(data: Any, problems: list[str]) -> list[RouteRow]:
    if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
        problems.append("routes: the document must be a mapping with a 'routes' list")
        return []
    actions = frozenset(data.get("actions") or ())
    for action in sorted(actions):
        problem = action_problem(action)
        if problem or "*" in action:
            problems.append(f"actions: {problem or f'{action!r} must not contain wildcards'}")
    named = data.get("dependencies") or {}
    for name, deps in named.items():
        problems.extend(f"dependencies.{name}[{i}]: {action_problem(d)}"
                        for i, d in enumerate(deps) if action_problem(d))
    types = data.get("resource_types") or {}
    return [row for index, item in enumerate(data["routes"])
            if (row := _row(item, f"routes[{index}]", actions, named, types, problems))]


def _row(item: Any, path: str, actions: frozenset[str], named: Mapping[str, list[str]],
         types: Mapping[str, str], problems: list[str]) -> RouteRow | None:
    if not isinstance(item, dict):
        problems.append(f"{path}: must be a mapping")
        return None
    before = len(problems)
    method, route, action = item.get("method"), item.get("path"), item.get("action")
    source, rtype, deps = item.get("source"), item.get("resource"), item.get("dependencies")
    if method not in METHODS:
        problems.append(f"{path}.method: {method!r} is not one of {sorted(METHODS)}")
    if not isinstance(route, str) or not route.startswith("/"):
        problems.append(f"{path}.path: must start with '/'")
    if not isinstance(item.get("operation"), str) or not item["operation"]:
        problems.append(f"{path}.operation: required")
    if source not in SOURCES:
        problems.append(f"{path}.source: {source!r} is not one of {sorted(SOURCES)}")
    if (action is None) != (source == "public"):
        problems.append(f"{path}.action: required unless source is 'public'")
    elif action is not None and action not in actions:
        problems.append(f"{path}.action: {action!r} is not a registered action")
    if deps is not None and deps not in named:
        problems.append(f"{path}.dependencies: unknown dependency set {deps!r}")
    param = types.get(rtype) if rtype is not None else None
    if rtype is not None and (param is None or f"{{{param}}}" not in str(route)):
        problems.append(f"{path}.resource: {rtype!r} is unknown or its id is not in the path")
    if len(problems) > before:
        return None
    return RouteRow(method, route, item["operation"], action, item.get("section"), rtype, param,
                    tuple(named[deps]) if deps else (), source, item.get("why"))


def _classified(rows: list[RouteRow], data: Any, problems: list[str]) -> list[RouteRow]:
    """Each row with its enterprise-project scope; every row must be in exactly one."""
    where = "enterprise_project_scopes"
    if not isinstance(data, dict) or set(data) - set(EP_SCOPES):
        problems.append(f"{where}: a mapping of {', '.join(EP_SCOPES)}")
        return rows
    by_operation: dict[str, EnterpriseProjectScope] = {}
    for kind, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("why"), str):
            problems.append(f"{where}.{kind}: a mapping with a `why`")
            continue
        for operation, scope in _scope_entries(kind, spec, f"{where}.{kind}", problems):
            if by_operation.setdefault(operation, scope) is not scope:
                problems.append(f"{where}.{kind}: {operation} is classified twice")
    instance = data.get(EP_INSTANCE) or {}
    found: list[RouteRow] = []
    for row in rows:
        scope = by_operation.get(row.operation)
        if row.resource_type == "instance" and isinstance(instance.get("why"), str):
            if scope is not None:
                problems.append(f"{where}: {row.operation} is instance-bound; do not list it")
            scope = EnterpriseProjectScope(
                EP_INSTANCE, instance["why"], learn=row.operation in (instance.get("learn_from") or ()),
                forget=row.operation in (instance.get("forget_on") or ()))
        if scope is None:
            problems.append(f"{where}: {row.method} {row.path} ({row.operation}) is not classified")
            continue
        found.append(replace(row, enterprise_project=scope))
    known = {row.operation for row in rows}
    problems.extend(f"{where}: {op} names no route" for op in sorted(set(by_operation) - known))
    return found


def _scope_entries(kind: str, spec: dict[str, Any], where: str,
                   problems: list[str]) -> list[tuple[str, EnterpriseProjectScope]]:
    """(operation, scope) for the operations one scope lists, in its kind's own shape."""
    why = spec["why"]
    if kind == EP_INSTANCE:
        return []
    if kind == EP_CREATE:
        fields = spec.get("body_fields") or {}
        bad = [op for op, path in fields.items()
               if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path)]
        problems.extend(f"{where}.body_fields.{op}: a non-empty list of keys" for op in bad)
        return [(op, EnterpriseProjectScope(kind, why, body_field=tuple(path)))
                for op, path in fields.items() if op not in bad]
    if kind == EP_LIST:
        shapes = spec.get("shapes") or {}
        entries = []
        for op, shape in shapes.items():
            if not isinstance(shape, dict) or not isinstance(shape.get("items"), str) \
                    or not isinstance(shape.get("totals"), list):
                problems.append(f"{where}.shapes.{op}: needs `items` and a `totals` list")
                continue
            entries.append((op, EnterpriseProjectScope(kind, why, items=shape["items"],
                                                       totals=tuple(shape["totals"]))))
        return entries
    operations = spec.get("operations") or {}
    if not isinstance(operations, dict) or not all(isinstance(v, str) for v in operations.values()):
        problems.append(f"{where}.operations: a mapping of operation -> why")
        return []
    return [(op, EnterpriseProjectScope(kind, f"{why} ({detail})")) for op, detail in operations.items()]
