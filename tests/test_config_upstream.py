"""The upstream keys for deadlines, the connection pool and proxies: defaults, values, and
`config check`'s messages with their paths."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConfigError, parse_config

from .harness import config_data


def _data(**upstream: Any) -> dict[str, Any]:
    data = config_data(state_dir="state", upstream_url="http://127.0.0.1:9")
    data["upstream"].update(upstream)
    return data


def test_defaults() -> None:
    upstream = parse_config(_data(), environ={}).upstream
    assert upstream is not None
    assert (upstream.read_timeout_s, upstream.pool_timeout_s, upstream.max_connections,
            upstream.max_connections_per_route, upstream.max_pending, upstream.trust_env) == (
        60.0, 1.0, 256, None, 256, True)


def test_values_are_read() -> None:
    upstream = parse_config(_data(read_timeout_s=5, pool_timeout_s=0.25, max_connections=16,
                                  max_connections_per_route=4, max_pending=0, trust_env=False),
                            environ={}).upstream
    assert upstream is not None
    assert (upstream.read_timeout_s, upstream.pool_timeout_s, upstream.max_connections,
            upstream.max_connections_per_route, upstream.max_pending, upstream.trust_env) == (
        5, 0.25, 16, 4, 0, False)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("read_timeout_s", 0, "upstream.read_timeout_s: must be > 0"),
    ("pool_timeout_s", "soon", "upstream.pool_timeout_s: "),
    ("max_connections", 0, "upstream.max_connections: "),
    ("max_connections_per_route", 0, "upstream.max_connections_per_route: "),
    ("max_pending", -1, "upstream.max_pending: "),
    ("trust_env", "yes", "upstream.trust_env: "),
])
def test_bad_values_name_their_path(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_data(**{key: value}), environ={})
    assert any(line.startswith(message) for line in err.value.problems), err.value.problems
