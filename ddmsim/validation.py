"""Declarative request validation.

Each route in ``data/routes.yaml`` describes its query and body as field specs (the doc's
tables: required, type, enum, range, length, pattern). One small interpreter checks them so
that 52 routes need no hand-written checks. Specs are plain mappings::

    {type: int, required: true, min: 1, max: 128, default: 10, error: parameter_error}

Types: ``str``, ``int``, ``number``, ``bool``, ``list`` (``items``), ``object`` (``fields``),
``map`` (``values``). ``error`` names the catalogue entry raised (default ``parameter_error``).
"""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping

from ddmsim.errors import SimError, fail

Spec = Mapping[str, Any]
_MISSING = object()
_PY_TYPES: Mapping[str, tuple[type, ...]] = MappingProxyType({
    "str": (str,), "int": (int,), "number": (int, float), "bool": (bool,),
    "list": (list,), "object": (dict,), "map": (dict,),
})


def _reject(spec: Spec, where: str) -> SimError:
    """The error for a field that broke its spec (the spec may name a specific DBS code)."""
    return fail(spec.get("error", "parameter_error"), param=where)


def _check_type(spec: Spec, value: Any, where: str) -> None:
    expected = _PY_TYPES[spec.get("type", "str")]
    is_bool_for_number = isinstance(value, bool) and bool not in expected
    if not isinstance(value, expected) or is_bool_for_number:
        raise _reject(spec, where)


def _check_bounds(spec: Spec, value: Any, where: str) -> None:
    if "enum" in spec and value not in spec["enum"]:
        raise _reject(spec, where)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if ("min" in spec and value < spec["min"]) or ("max" in spec and value > spec["max"]):
            raise _reject(spec, where)
    if isinstance(value, (str, list, dict)):
        if len(value) < spec.get("min_len", 0) or len(value) > spec.get("max_len", 1 << 30):
            raise _reject(spec, where)
    if "pattern" in spec and not re.fullmatch(spec["pattern"], value):
        raise _reject(spec, where)


def check_value(spec: Spec, value: Any, where: str) -> Any:
    """Validate one JSON value against its spec; returns it with nested defaults filled in."""
    _check_type(spec, value, where)
    _check_bounds(spec, value, where)
    kind = spec.get("type", "str")
    if kind == "object":
        return check_fields(spec.get("fields", {}), value, where + ".")
    if kind == "list" and "items" in spec:
        return [check_value(spec["items"], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "map" and "values" in spec:
        return {key: check_value(spec["values"], item, f"{where}.{key}") for key, item in value.items()}
    return value


def check_fields(fields: Mapping[str, Spec], data: Any, prefix: str = "") -> dict[str, Any]:
    """Validate a JSON object: required fields present, each present field per its spec."""
    if not isinstance(data, dict):
        raise fail("parameter_error")
    result = dict(data)
    for name, spec in fields.items():
        value = data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if spec.get("required"):
                raise _reject(spec, prefix + name)
            result[name] = spec.get("default")
            continue
        result[name] = check_value(spec, value, prefix + name)
    return result


def _parse_query_value(spec: Spec, raw: str, name: str) -> Any:
    """Query strings arrive as text; convert to the spec's type before checking it."""
    kind = spec.get("type", "str")
    if kind == "int":
        if not re.fullmatch(r"-?\d{1,18}", raw):
            raise _reject(spec, name)
        return int(raw)
    if kind == "bool":
        if raw.lower() not in ("true", "false"):
            raise _reject(spec, name)
        return raw.lower() == "true"
    return raw


def check_query(fields: Mapping[str, Spec], query: Mapping[str, str]) -> dict[str, Any]:
    """Validate query parameters; absent ones take their spec's default."""
    result: dict[str, Any] = {}
    for name, spec in fields.items():
        raw = query.get(name)
        if raw is None or (raw == "" and not spec.get("required")):
            if spec.get("required"):
                raise _reject(spec, name)
            result[name] = spec.get("default")
            continue
        value = _parse_query_value(spec, raw, name)
        _check_bounds(spec, value, name)
        result[name] = value
    return result
