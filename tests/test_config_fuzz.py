"""Whatever the YAML holds, parsing ends in a config or a ConfigError, never another exception."""
from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError, parse_config

from .paths import EXAMPLE_CONFIG

EXAMPLE = yaml.safe_load(EXAMPLE_CONFIG.read_text())
ENV = {"DDMGW_UPSTREAM_SK": "upstream-sk", "BOB_SK": "bob-sk"}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True), st.text(max_size=12), st.just("cn-north-4"),
                    st.just("dba"), st.just("ALICEAK0000000000001"))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.sampled_from(
        ["id", "name", "sk", "sk_env", "port", "groups", "grants", "policy", "projects"])),
        inner, max_size=3)), max_leaves=8)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


PATHS = _paths(EXAMPLE)


def _parse(data: object) -> None:
    try:
        parse_config(data, environ=ENV)
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and ": " in p for p in err.problems)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PATHS), values)
def test_any_replacement_in_the_example_is_handled(path: tuple[Any, ...], value: Any) -> None:
    data = copy.deepcopy(EXAMPLE)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    _parse(data)


@settings(max_examples=100, deadline=None)
@given(values)
def test_any_document_is_handled(data: Any) -> None:
    _parse(data)
