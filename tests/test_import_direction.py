"""Imports run one way: a test walks every module's imports with `ast` and fails on one that
reaches a room above its own.

LAYERS is the house, bottom first: plain values and pure cores; the limiter, config and the
directory; the services below authentication (the proxy, which talks upstream only, the IAM
token and credential cores, observability, the enterprise-project cache); authentication
(authn/); the typed wiring of services; the DDM pipeline; the HTTP edge and the process shells.
A module may import its own layer or any below, never one above, and every room must be placed
(a new room is put in the map deliberately). RULES narrows the bottom rooms further (which rooms
each may see at all), FORBIDDEN_EXTERNAL keeps aiohttp's server side out of every room below the
edge (nothing but gateway/http/ sees the client's aiohttp request).
"""
from __future__ import annotations

import ast
from pathlib import Path

from .paths import REPO_ROOT

PACKAGES = ("gateway", "signer", "policies")
# Bottom first; a room: a top-level package, or gateway.<name> (a package or a module).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("signer", "policies", "gateway.errors", "gateway.passwords", "gateway.principal", "gateway.request",
     "gateway.body_budget", "gateway.notes"),                                           # plain values, pure cores
    ("gateway.limits", "gateway.config", "gateway.identity", "gateway.grants", "gateway.shadow_grants"),
    ("gateway.proxy", "gateway.iam", "gateway.observability", "gateway.enterprise_projects"),
    ("gateway.authn",),
    ("gateway.services",),                                                              # the typed wiring
    ("gateway.pipeline",),
    ("gateway.http", "gateway.server", "gateway.reload", "gateway.workers", "gateway.workers_admin",
     "gateway.cli", "gateway.curl", "gateway.demo", "gateway.policy_tools", "gateway.limits_tools",
     "gateway"),                                                                        # the edge and the shells
)
LAYER_OF: dict[str, int] = {name: level for level, rooms in enumerate(LAYERS) for name in rooms}
# room -> the other rooms it may import at all (the bottom rooms, narrower than their layer).
RULES: dict[str, frozenset[str]] = {
    "signer": frozenset(),
    "policies": frozenset(),
    "gateway.limits": frozenset({"policies"}),      # the same layer: action patterns in budget rules
    "gateway.config": frozenset({"gateway.limits", "gateway.passwords", "policies"}),
    "gateway.proxy": frozenset({"gateway.errors", "signer"}),
}
_NO_AIOHTTP = frozenset({"aiohttp", "aiohttp.web"})
# modules a room must not import even from outside the project
FORBIDDEN_EXTERNAL: dict[str, frozenset[str]] = {
    "gateway.proxy": frozenset({"aiohttp.web"}),   # an aiohttp client, never the client's request
    "gateway.pipeline": _NO_AIOHTTP,               # phases over plain values (gateway.request)
    "gateway.authn": _NO_AIOHTTP,
    "gateway.iam": _NO_AIOHTTP,                    # plain services; the routes are in gateway/http/
    "gateway.request": _NO_AIOHTTP,
    "gateway.notes": _NO_AIOHTTP,
    "signer": _NO_AIOHTTP,
    "policies": _NO_AIOHTTP,
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
        if own not in LAYER_OF:
            problems.append(f"{name}: room {own} is in no layer")
            continue
        for target in sorted(imported(path)):
            other = room(target)
            if other is not None and other != own:
                if other not in LAYER_OF or LAYER_OF[other] > LAYER_OF[own]:
                    problems.append(f"{name} imports {target} (room {other}, a layer above)")
                elif own in RULES and other not in RULES[own]:
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
    assert "gateway.request.RequestHead" in imported(modules["gateway.pipeline.routing"])


def test_an_upward_import_is_reported(monkeypatch) -> None:
    """A proxy module importing the pipeline, or aiohttp's server side, is found."""
    fake = REPO_ROOT / "gateway" / "proxy" / "_upward_probe.py"
    monkeypatch.setattr(Path, "rglob", _with_extra(Path.rglob, fake))
    source = "from ..pipeline.relay import relay\nfrom aiohttp import web\n"
    monkeypatch.setattr(Path, "read_text", _reading(Path.read_text, fake, source))
    assert upward_imports() == ["gateway.proxy._upward_probe imports aiohttp.web",
                                "gateway.proxy._upward_probe imports gateway.pipeline.relay "
                                "(room gateway.pipeline, a layer above)",
                                "gateway.proxy._upward_probe imports gateway.pipeline.relay.relay "
                                "(room gateway.pipeline, a layer above)"]


def test_an_import_of_a_higher_layer_is_reported_for_every_room(monkeypatch) -> None:
    """Beyond the bottom rooms: the pipeline importing the edge, or authn the pipeline, is found;
    a same-layer or downward import is not."""
    fake = REPO_ROOT / "gateway" / "authn" / "_upward_probe.py"
    monkeypatch.setattr(Path, "rglob", _with_extra(Path.rglob, fake))
    source = ("from ..pipeline.ddm import handle_ddm\nfrom ..http import relay\n"
              "from ..limits import StoreUnavailable\nfrom .guard import FailedAuthGuard\n")
    monkeypatch.setattr(Path, "read_text", _reading(Path.read_text, fake, source))
    assert upward_imports() == [
        "gateway.authn._upward_probe imports gateway.http (room gateway.http, a layer above)",
        "gateway.authn._upward_probe imports gateway.http.relay (room gateway.http, a layer above)",
        "gateway.authn._upward_probe imports gateway.pipeline.ddm (room gateway.pipeline, a layer above)",
        "gateway.authn._upward_probe imports gateway.pipeline.ddm.handle_ddm (room gateway.pipeline, a layer above)"]


def test_every_room_is_placed_once() -> None:
    rooms = {room(name) for name in project_modules()}
    placed = [name for layer in LAYERS for name in layer]
    assert len(placed) == len(set(placed))
    assert rooms <= set(placed), rooms - set(placed)


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

