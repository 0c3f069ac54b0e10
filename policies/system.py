"""System-defined policies (DDM FullAccess, Tenant Administrator, ...) loaded from data."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .document import Policy, parse_policy
from .errors import PolicyError

SYSTEM_POLICIES_FILE = Path(__file__).with_name("system_policies.yaml")


def load_system_policies(path: Path = SYSTEM_POLICIES_FILE) -> dict[str, Policy]:
    """Name -> parsed Policy; every document is validated like a custom policy."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = data.get("policies") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise PolicyError([f"{path.name}: expected a non-empty 'policies' mapping"])
    return {name: parse_policy(name, entry.get("document") if isinstance(entry, dict) else None)
            for name, entry in entries.items()}


def system_policy_descriptions(path: Path = SYSTEM_POLICIES_FILE) -> dict[str, str]:
    """Name -> description, for listings (`policy simulate`, docs)."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: str(entry.get("description", "")) for name, entry in data["policies"].items()}
