"""Imports run one way: a test walks every module's imports with `ast` and fails on one that
reaches a room above its own.

The bottom rooms are checked: the pure cores (signer/, policies/) and the rate limiter
(gateway/limits/, which reads action patterns with the policies' own matcher) import nothing of
the gateway above them; config/ reads its sections with the
limiter's and the policies' own types; the proxy talks upstream only (errors and the signer,
never the pipeline, the IAM routes, the app or aiohttp's server side). The rooms above (pipeline,
iam, observability) are not in RULES yet: they still import each other (see issue 19).
"""
from __future__ import annotations

import ast
from pathlib import Path

from .paths import REPO_ROOT

PACKAGES = ("gateway", "signer", "policies")
# room -> the other rooms it may import (a room: a top-level package, or gateway.<name>).
RULES: dict[str, frozenset[str]] = {
    "signer": frozenset(),
    "policies": frozenset(),
    "gateway.limits": frozenset({"policies"}),      # the same layer: action patterns in budget rules
    "gateway.config": frozenset({"gateway.limits", "gateway.passwords", "policies"}),
    "gateway.proxy": frozenset({"gateway.errors", "signer"}),
}
# modules a room must not import even from outside the project
FORBIDDEN_EXTERNAL: dict[str, frozenset[str]] = {
    "gateway.proxy": frozenset({"aiohttp.web"}),       # it never sees the client's request
    "signer": frozenset({"aiohttp", "aiohttp.web"}),
    "policies": frozenset({"aiohttp", "aiohttp.web"}),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, absolute (`from x import y` also counts x.y: y may be a
    module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    return ".".join(parts[:2]) if parts[0] == "gateway" and len(parts) > 1 else parts[0]


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (REPO_ROOT / package).rglob("*.py")}


def upward_imports() -> list[str]:
    modules = project_modules()
    problems = []
    for name, path in sorted(modules.items()):
        own = room(name)
        if own not in RULES:
            continue
        for target in sorted(imported(path)):
            other = room(target)
            if other is not None and other != own and other not in RULES[own]:
                problems.append(f"{name} imports {target} (room {other})")
            if target in FORBIDDEN_EXTERNAL.get(own, ()):
                problems.append(f"{name} imports {target}")
    return problems


def test_no_module_imports_a_room_above_its_own() -> None:
    assert upward_imports() == []


def test_the_walk_sees_relative_and_absolute_imports() -> None:
    """The checker is not vacuous: the imports it must see in known modules, it sees."""
    modules = project_modules()
    assert "gateway.proxy.answer" in imported(modules["gateway.pipeline.normalize"])    # `from ..proxy.answer`
    assert "gateway.proxy.headers.value_of" in imported(modules["gateway.pipeline.normalize"])
    assert "signer.derived_keys" in imported(modules["signer.signing"])                 # absolute
    assert room("gateway.pipeline.ddm") == "gateway.pipeline" and room("aiohttp.web") is None


def test_an_upward_import_is_reported(monkeypatch) -> None:
    """A proxy module importing the pipeline, or aiohttp's server side, is found."""
    fake = REPO_ROOT / "gateway" / "proxy" / "_upward_probe.py"
    monkeypatch.setattr(Path, "rglob", _with_extra(Path.rglob, fake))
    source = "from ..pipeline.relay import relay\nfrom aiohttp import web\n"
    monkeypatch.setattr(Path, "read_text", _reading(Path.read_text, fake, source))
    assert upward_imports() == ["gateway.proxy._upward_probe imports aiohttp.web",
                                "gateway.proxy._upward_probe imports gateway.pipeline.relay (room gateway.pipeline)",
                                "gateway.proxy._upward_probe imports gateway.pipeline.relay.relay "
                                "(room gateway.pipeline)"]


def _with_extra(rglob, extra: Path):
    def patched(self: Path, pattern: str):
        yield from rglob(self, pattern)
        if self == extra.parent.parent:
            yield extra
    return patched


def _reading(read_text, fake: Path, source: str):
    def patched(self: Path, *args, **kwargs) -> str:
        return source if self == fake else read_text(self, *args, **kwargs)
    return patched

