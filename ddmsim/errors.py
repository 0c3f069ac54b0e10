"""DDM error bodies.

The reference is not uniform: v1/v2 routes (and a few v3 ones, as their sections show) answer
``{"errCode", "externalMessage"}`` while most v3 routes answer ``{"error_code", "error_msg"}``
(appendix A.1). Handlers raise one exception type; the route's documented style decides the
body shape in exactly one place (:func:`error_body`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, Mapping

import yaml

ErrorStyle = Literal["v1", "v3"]


@dataclass(frozen=True)
class ErrorSpec:
    """One catalogue entry: DBS code, HTTP status and message template."""

    code: str
    status: int
    message: str


class SimError(Exception):
    """A documented DDM error; rendered in the route's error style at the edge."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@functools.lru_cache(maxsize=1)
def catalogue() -> Mapping[str, ErrorSpec]:
    """The error codes of appendix A.3 we use, read once from ``data/error_codes.yaml``."""
    text = resources.files("ddmsim").joinpath("data/error_codes.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return MappingProxyType({key: ErrorSpec(**value) for key, value in raw.items()})


def fail(key: str, **fmt: Any) -> SimError:
    """Build the SimError for a catalogue key; ``fmt`` fills ``{param}``-style placeholders."""
    spec = catalogue()[key]
    return SimError(spec.status, spec.code, spec.message.format_map(_Placeholders(fmt)))


class _Placeholders(dict[str, Any]):
    """Leaves unknown ``{name}`` placeholders as they are instead of raising KeyError."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def error_body(style: ErrorStyle, code: str, message: str) -> dict[str, str]:
    """The documented error body for a route's style."""
    if style == "v3":
        return {"error_code": code, "error_msg": message}
    return {"errCode": code, "externalMessage": message}
