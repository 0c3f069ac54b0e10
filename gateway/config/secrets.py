"""Resolving secrets and file paths named by the config.

A secret is given in exactly one of three ways: inline (`sk`, development), from an environment
variable (`sk_env`) or from a file (`sk_file`, e.g. a mounted Kubernetes secret). Passwords are
inline (`password`, development) or hashed (`password_hash`, from `ddm-gateway hash-password`).
The environment and the file reader are injected, so parsing stays testable without touching
the real process environment.

Relative file paths are relative to the config file's directory (secrets and keys usually ship
beside the config); `state_dir` alone is relative to the working directory (see loader).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..passwords import is_valid_hash
from .model import PasswordSpec
from .reader import Node

ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Sources:
    """Where secrets come from: an environment mapping and files under `base_dir`."""

    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    base_dir: Path | None = None
    read_text: Callable[[Path], str] = _read_text

    def path(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        if candidate.is_absolute() or self.base_dir is None:
            return candidate
        return self.base_dir / candidate


def read_secret(node: Node, name: str, sources: Sources, *, required: bool) -> str | None:
    """The secret given as `name`, `name_env` or `name_file` (exactly one of them)."""
    keys = (name, f"{name}_env", f"{name}_file")
    for key in keys:
        node.raw(key)
    chosen = node.exclusive(keys, required=required)
    if chosen == name:
        return node.string(name)
    if chosen == f"{name}_env":
        return _from_env(node, chosen, sources)
    if chosen == f"{name}_file":
        return _from_file(node, chosen, sources)
    return None


def _from_env(node: Node, key: str, sources: Sources) -> str | None:
    variable = node.string(key, pattern=ENV_NAME, what="environment variable name")
    if variable is None:
        return None
    value = sources.environ.get(variable)
    if value is None:
        node.problem(key, f"environment variable {variable} is not set")
    elif value == "":
        node.problem(key, f"environment variable {variable} is empty")
    return value or None


def _from_file(node: Node, key: str, sources: Sources) -> str | None:
    name = node.string(key, what="file name")
    if name is None:
        return None
    path = sources.path(name)
    try:
        value = sources.read_text(path).strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not readable text"
        node.problem(key, f"cannot read {path}: {reason}")
        return None
    if not value:
        node.problem(key, f"file {path} is empty")
        return None
    return value


def read_password(node: Node) -> PasswordSpec | None:
    """`password` (plaintext) or `password_hash` (scrypt), at most one; None when neither."""
    chosen = node.exclusive(("password", "password_hash"), required=False)
    plain = node.string("password")
    encoded = node.string("password_hash")
    if chosen == "password" and plain is not None:
        return PasswordSpec.plain(plain)
    if chosen == "password_hash" and encoded is not None:
        if not is_valid_hash(encoded):
            node.problem("password_hash",
                         "not a valid scrypt hash (make one with `ddm-gateway hash-password`)")
            return None
        return PasswordSpec.hashed(encoded)
    return None


def optional_path(node: Node, key: str, sources: Sources) -> Path | None:
    value = node.string(key, what="path")
    return None if value is None else sources.path(value)


def path_list(node: Node, key: str, sources: Sources) -> tuple[Path, ...]:
    return tuple(sources.path(item) for item in node.strings(key) or ())


