"""The built-in demo: a YAML file shipped in this package, parsed by the same loader.

Keeping it as a config file (not Python objects) means the demo is also an example an operator
can copy, and it can never drift from what the loader accepts.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .loader import parse_config, read_yaml
from .model import GatewayConfig

DEMO_CONFIG_PATH = Path(__file__).with_name("demo.yaml")


def demo_config(*, state_dir: Path | None = None) -> GatewayConfig:
    """The demo account (owner, alice in dba, bob in readers) over the embedded simulator."""
    data = read_yaml(DEMO_CONFIG_PATH)
    config = parse_config(data, environ={}, base_dir=DEMO_CONFIG_PATH.parent)
    if state_dir is not None:
        config = replace(config, state_dir=state_dir)
    return replace(config, source_path=DEMO_CONFIG_PATH)


def demo_credentials(config: GatewayConfig) -> list[str]:
    """Human-readable lines with the demo's logins and keys, for the CLI to print at start.

    Only plaintext (development) secrets are shown; hashed passwords print as "(hashed)".
    """
    lines: list[str] = []
    for domain in config.iam.domains:
        project_names = ", ".join(f"{p.name} ({p.id})" for p in domain.projects)
        lines.append(f"domain {domain.name} ({domain.id}), projects: {project_names}")
        lines.append(f"  owner   user={domain.name} password={_shown(domain.password)}")
        for user in domain.users:
            keys = " ".join(f"ak={key.ak} sk={key.sk}" for key in user.access_keys)
            lines.append(f"  {user.name:<7} groups={','.join(user.groups)} "
                         f"password={_shown(user.password)} {keys}".rstrip())
    return lines


def _shown(password: object) -> str:
    plaintext = getattr(password, "plaintext", None)
    if plaintext is not None:
        return str(plaintext)
    return "(none)" if password is None else "(hashed)"
