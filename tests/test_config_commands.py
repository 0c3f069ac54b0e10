"""`config check` / `hash-password` logic, and the purity of the config package."""
from __future__ import annotations

import ast
import copy
import io
from pathlib import Path

import yaml

from gateway.config import run_config_check, run_hash_password
from gateway.passwords import verify_password

from .paths import EXAMPLE_CONFIG

EXAMPLE = EXAMPLE_CONFIG
ENV = {"DDMGW_UPSTREAM_SK": "upstream-sk", "BOB_SK": "bob-sk"}


def _check(path: Path, environ: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_config_check(path, out, err, environ=environ)
    return code, out.getvalue(), err.getvalue()


def test_config_check_passes_on_example() -> None:
    code, out, err = _check(EXAMPLE, ENV)
    assert (code, out) == (0, "")
    assert err.endswith("ok\n")


def test_config_check_without_env_exits_2_with_paths() -> None:
    code, out, _ = _check(EXAMPLE, {})
    assert code == 2
    assert out.splitlines() == [
        "upstream.auth.sk_env: environment variable DDMGW_UPSTREAM_SK is not set",
        "iam.domains[0].users[1].access_keys[0].sk_env: environment variable BOB_SK is not set",
    ]


def test_config_check_on_broken_copy(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    broken = copy.deepcopy(data)
    broken["iam"]["domains"][0]["users"][1]["groups"] = ["dbas"]
    broken["listen"]["port"] = 0
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    code, out, err = _check(path, ENV)
    assert code == 2
    assert out.splitlines() == ["listen.port: must be between 1 and 65535",
                                "iam.domains[0].users[1].groups[0]: unknown group 'dbas'"]
    assert "2 problems" in err


def test_hash_password_reads_stdin_and_prints_a_hash() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_hash_password(io.StringIO("s3cret pass\n"), out, err) == 0
    encoded = out.getvalue().strip()
    assert encoded.startswith("scrypt$n=16384,r=8,p=1$")
    assert verify_password("s3cret pass", encoded)
    assert "s3cret" not in out.getvalue() + err.getvalue()


def test_hash_password_refuses_empty_input() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_hash_password(io.StringIO(""), out, err) == 2
    assert out.getvalue() == "" and "empty" in err.getvalue()


def test_config_package_is_pure() -> None:
    """The config core imports no aiohttp, redis or asyncio (they belong at the edges)."""
    package = Path(__file__).resolve().parents[1] / "gateway" / "config"
    files = [*package.glob("*.py"), package.parent / "passwords.py"]
    for source in files:
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in {"aiohttp", "redis", "asyncio"}, (source, name)
