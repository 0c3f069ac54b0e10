"""`ddm-gateway policy simulate|validate`: the same engine the gateway uses, explained."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from policies import ENTERPRISE_PROJECT_KEY, AuthzRequest, RouteCatalog, validate_document

from .config import ConfigError, load_config
from .identity import Identity
from .pipeline.authorize import request_context
from .principal import AUTH_TOKEN, Principal
from .services import Runtime


def runtime_and_user(config_path: str, user: str, domain: str | None) -> tuple[Runtime, Identity] | None:
    """The config's runtime and its one user called `user`; None after printing why not."""
    try:
        runtime = Runtime.from_config(load_config(config_path))
    except ConfigError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return None
    identity, problem = _find_user(runtime, user, domain)
    if identity is None:
        print(problem, file=sys.stderr)
        return None
    return runtime, identity


def simulate(args: argparse.Namespace) -> int:
    found = runtime_and_user(args.config, args.user, args.domain)
    if found is None:
        return 2
    runtime, identity = found
    project = runtime.directory.project_by_name(identity.domain.id, args.project) \
        or runtime.directory.project(args.project)
    if project is None or project.domain_id != identity.domain.id:
        print(f"unknown project {args.project!r} in domain {identity.domain.name!r}", file=sys.stderr)
        return 2
    principal = Principal(identity.domain.id, identity.domain.name, identity.user_id, identity.user_name,
                          identity.groups, identity.domain_owner, AUTH_TOKEN, "127.0.0.1",
                          project.id, project.name)
    context: dict[str, str] = request_context(principal, project, {}, time.time())
    enterprise_project, problem = _find_enterprise_project(identity, args.enterprise_project)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if enterprise_project is not None:
        context[ENTERPRISE_PROJECT_KEY] = enterprise_project.id
    for item in args.context:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--context takes KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        context[key] = value
    grants = runtime.grants.grants_for(identity, project)
    ep_id = enterprise_project.id if enterprise_project is not None else None
    compiled = grants.in_enterprise_project(ep_id) if ep_id is not None else grants.project
    decision = compiled.decide(AuthzRequest(args.action, args.resource, context),
                               domain_owner=identity.domain_owner)
    print(f"decision: {'allow' if decision.allowed else 'deny'} ({decision.effect})")
    for policy_name, index in decision.deciding:
        print(f"  decided by: policy {policy_name!r}, Statement[{index}]")
    if enterprise_project is not None:
        print(f"enterprise project: {enterprise_project.name} ({enterprise_project.id})")
    print("policies: " + ", ".join(p.name for p in runtime.grants.policy_list(identity, project, ep_id)))
    print("context: " + json.dumps(context, sort_keys=True))
    return 0 if decision.allowed else 1


def _find_enterprise_project(identity: Identity, wanted: str | None) -> tuple[Any, str]:
    """The domain's enterprise project named (or with the id) `wanted`; None when not asked."""
    if wanted is None:
        return None, ""
    for ep in identity.domain.enterprise_projects:
        if wanted in (ep.id, ep.name):
            return ep, ""
    return None, f"unknown enterprise project {wanted!r} in domain {identity.domain.name!r}"


def _find_user(runtime: Runtime, name: str, domain_name: str | None) -> tuple[Identity | None, str]:
    """The one user called `name`, or None and why; exit 1 means "deny", so lookups may not use it."""
    config = runtime.config
    domains = [d for d in config.iam.domains if domain_name in (None, d.name)]
    found = [i for d in domains if (i := runtime.directory.by_login(d.name, name)) is not None]
    if len(found) != 1:
        reason = "no such user" if not found else "several domains have this user; pass --domain"
        return None, f"user {name!r}: {reason}"
    return found[0], ""


def validate(path: str) -> int:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        print(f"{path}: cannot read: {err}", file=sys.stderr)
        return 2
    problems = validate_document(document, known_actions=RouteCatalog.load_default().registered_actions())
    for problem in problems:
        print(f"{path}: {problem}")
    if problems:
        return 2
    print(f"{path}: ok")
    return 0
