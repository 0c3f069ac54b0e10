"""Report-only policies (`authz.report_only_policies`): split out of the enforced grants.

The enforced GrantResolver is built from the IAM config without the grants of those policies;
a second, "shadow" resolver keeps every grant, so the pipeline can tell what the policies would
have changed (pipeline/report_only.py) while they enforce nothing. Pure: config in, config out.
"""
from __future__ import annotations

from dataclasses import replace
from typing import AbstractSet, Any


def without_policies(iam: Any, names: AbstractSet[str]) -> Any:
    """`iam` (a gateway.config.IamConfig) with every group grant of the named policies removed."""
    if not names:
        return iam
    domains = tuple(replace(domain, groups=tuple(
        replace(group, grants=tuple(g for g in group.grants if g.policy not in names))
        for group in domain.groups)) for domain in iam.domains)
    return replace(iam, domains=domains)
