"""Static catalogue (engines, flavors, versions, default parameters), read once from YAML."""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Mapping

import yaml


@functools.lru_cache(maxsize=1)
def load_catalog() -> Mapping[str, Any]:
    """The parsed ``data/catalog.yaml``; callers treat it as read-only."""
    text = resources.files("ddmsim").joinpath("data/catalog.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def flavor_by_id(flavor_id: str) -> Mapping[str, Any] | None:
    return next((f for f in load_catalog()["flavors"] if f["id"] == flavor_id), None)


def flavor_by_code(spec_code: str) -> Mapping[str, Any] | None:
    return next((f for f in load_catalog()["flavors"] if f["spec_code"] == spec_code), None)


def engine_by_id(engine_id: str) -> Mapping[str, Any] | None:
    return next((e for e in load_catalog()["engines"] if e["id"] == engine_id), None)
