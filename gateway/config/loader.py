"""Loading a config file into a `GatewayConfig`, reporting every problem with its path.

`parse_config` is the pure core: plain data + an environment mapping -> config or ConfigError.
`load_config` adds the file and YAML edge. The same problem lines serve `ddm-gateway config
check` and the refusal at start, so an operator sees identical messages in both places.

Path rules: `state_dir` is relative to the working directory (where the operator runs the
gateway, as `./.ddm-gateway` in the example suggests); key, certificate, secret and log files
are relative to the config file's directory (they usually ship beside it).
"""
from __future__ import annotations

import functools

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Collection, Mapping

import yaml

from policies.patterns import action_regex

from .iam import DocumentValidator, IamContext, Registry, iam_section
from .model import GatewayConfig
from .reader import Node, Problems
from .sections import (RuleReferences, admin_section, auth_section, authz_section, limits_section,
                       listen_section, logging_section, reload_section, store_section,
                       tokens_section)
from .upstream import upstream_section
from .secrets import Sources

REGION_PATTERN = r"[a-z0-9]+(-[a-z0-9]+)*"
# The system policy names grants may use. The policies package (load_system_policies) is the
# eventual source of truth; these are merged with whatever it provides when it is importable.
SYSTEM_POLICY_NAMES: tuple[str, ...] = (
    "DDM FullAccess", "DDM CommonOperations", "DDM ReadOnlyAccess",
    "Tenant Administrator", "Tenant Guest",
)


class ConfigError(Exception):
    """An invalid config; `problems` holds one "path: message" line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and parse a YAML config file; raises ConfigError listing ALL problems."""
    source = Path(path)
    data = read_yaml(source)
    config = parse_config(data, environ=environ, base_dir=source.resolve().parent)
    return replace(config, source_path=source)


def check_config_file(path: str | Path, *,
                      environ: Mapping[str, str] | None = None) -> list[str]:
    """The problems of a config file; [] when it is valid."""
    try:
        load_config(path, environ=environ)
    except ConfigError as err:
        return err.problems
    return []


def parse_config(data: object, *, environ: Mapping[str, str] | None = None,
                 base_dir: Path | None = None,
                 system_policies: Collection[str] | None = None,
                 validate_document: DocumentValidator | None = None) -> GatewayConfig:
    """Validate raw config data (as loaded from YAML) into a GatewayConfig, or raise ConfigError.

    `environ` defaults to the process environment; `base_dir` anchors relative file paths.
    `system_policies` / `validate_document` default to what the policies package provides
    (see `system_policy_names`, `_document_validator`).
    """
    problems = Problems()
    root = Node.of({} if data is None else data, "", problems)
    if root is None:
        raise ConfigError(problems.items)
    sources = Sources(os.environ if environ is None else environ, base_dir)
    known_system = frozenset(system_policies if system_policies is not None
                             else system_policy_names())
    validator = validate_document if validate_document is not None else _document_validator()
    references = RuleReferences()
    config = _sections(root, sources, known_system, validator, references)
    root.finish()
    _cross_check(config, problems, references)
    if problems.items:
        raise ConfigError(problems.items)
    return config


def _sections(root: Node, sources: Sources, system_policies: frozenset[str],
              validate_document: DocumentValidator | None, references: RuleReferences) -> GatewayConfig:
    defaults = GatewayConfig()
    region = root.string("region", defaults.region, pattern=REGION_PATTERN, what="region name")
    state_dir = root.string("state_dir", None, what="path")
    iam_context = IamContext(sources, system_policies, validate_document,
                             Registry(root.problems))
    return GatewayConfig(
        listen=listen_section(root.child("listen"), sources),
        admin=admin_section(root.child("admin")),
        region=region,
        upstream=upstream_section(root.child("upstream"), region, sources),
        store=store_section(root.child("store")),
        limits=limits_section(root.child("limits"), references),
        tokens=tokens_section(root.child("tokens"), sources),
        state_dir=Path(state_dir).expanduser() if state_dir else defaults.state_dir,
        iam=iam_section(root.child("iam"), iam_context),
        authz=authz_section(root.child("authz")),
        auth=auth_section(root.child("auth")),
        logging=logging_section(root.child("logging"), sources),
        reload=reload_section(root.child("reload")),
    )


def _cross_check(config: GatewayConfig, problems: Problems, references: RuleReferences) -> None:
    """Checks that need two sections at once."""
    user_names = {user.name for domain in config.iam.domains for user in domain.users}
    user_names |= {domain.name for domain in config.iam.domains}
    for name in config.limits.users:
        if name not in user_names:
            problems.add(f"limits.users.{name}", f"unknown user '{name}'")
    _cross_check_rules(config, problems, references)
    _check_enterprise_project_lookups(config, problems)
    listen, admin = config.listen, config.admin
    if (listen.host, listen.port) == (admin.host, admin.port):
        problems.add("admin.port", f"same address as listen ({listen.host}:{listen.port})")


def _cross_check_rules(config: GatewayConfig, problems: Problems, references: RuleReferences) -> None:
    """Rate-limit rules name real groups and actions some route has (a typo would silently
    limit nothing); report-only policies name custom policies."""
    group_names = {group.name for domain in config.iam.domains for group in domain.groups}
    for path, group in references.groups:
        if group not in group_names:
            problems.add(path, f"unknown group '{group}'")
    actions = _registered_actions()
    for path, patterns in references.actions:
        matcher = action_regex(patterns)
        if not any(matcher.match(action) for action in actions):
            problems.add(path, "matches no action of any route")
    custom = {policy.name for domain in config.iam.domains for policy in domain.policies}
    for index, name in enumerate(config.authz.report_only_policies):
        if name not in custom:
            problems.add(f"authz.report_only_policies[{index}]", f"unknown custom policy '{name}'")


def _check_enterprise_project_lookups(config: GatewayConfig, problems: Problems) -> None:
    """Enterprise-project grants need the gateway to ask DDM which enterprise project an instance
    is in, with credentials of its own: `passthrough` has none."""
    upstream = config.upstream
    if upstream is None or upstream.auth.mode != "passthrough":
        return
    for d_index, domain in enumerate(config.iam.domains):
        for g_index, group in enumerate(domain.groups):
            for r_index, grant in enumerate(group.grants):
                if grant.enterprise_projects is not None:
                    problems.add(f"iam.domains[{d_index}].groups[{g_index}].grants[{r_index}]"
                                 ".enterprise_projects", _NEEDS_OWN_CREDENTIALS)
        for p_index, policy in enumerate(domain.policies):
            if _conditions_on_enterprise_project(policy.document):
                problems.add(f"iam.domains[{d_index}].policies[{p_index}].document",
                             f"a condition on g:EnterpriseProjectId {_NEEDS_OWN_CREDENTIALS}")


_NEEDS_OWN_CREDENTIALS = ("needs upstream.auth.mode aksk, token or none: with passthrough the gateway "
                          "has no credentials to look up an instance's enterprise project")


def _conditions_on_enterprise_project(document: Any) -> bool:
    statements = document.get("Statement") if isinstance(document, dict) else None
    for statement in statements if isinstance(statements, list) else ():
        condition = statement.get("Condition") if isinstance(statement, dict) else None
        for keys in condition.values() if isinstance(condition, dict) else ():
            if isinstance(keys, dict) and any(str(k).lower() == "g:enterpriseprojectid" for k in keys):
                return True
    return False


def system_policy_names() -> frozenset[str]:
    """The built-in names plus those of the policies package, when it provides them."""
    names = set(SYSTEM_POLICY_NAMES)
    try:
        from policies import load_system_policies  # type: ignore[attr-defined]
    except ImportError:
        return frozenset(names)
    return frozenset(names | set(load_system_policies()))


def _document_validator() -> DocumentValidator:
    """The policy engine's validator, refusing `ddm:` actions no route registers (IAM.1036):
    a typo such as `ddm:instance:delet` would otherwise silently grant or deny nothing."""
    from policies import validate_document
    return functools.partial(validate_document, known_actions=_registered_actions())


@functools.lru_cache(maxsize=1)
def _registered_actions() -> frozenset[str]:
    """The packaged route catalog's actions (immutable data, read once per process)."""
    from policies import RouteCatalog
    return frozenset(RouteCatalog.load_default().registered_actions())


def read_yaml(path: Path) -> Any:
    """The parsed YAML document; unreadable files, bad YAML and duplicate keys -> ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not UTF-8 text"
        raise ConfigError([f"{path}: cannot read: {reason}"]) from None
    loader = StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError([f"{path}: invalid YAML: {_yaml_reason(err)}"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError([f"{path}: {line}" for line in loader.duplicates])
    return data


def _yaml_reason(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that records duplicate mapping keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                self.duplicates.append(f"line {key_node.start_mark.line + 1}: "
                                       f"duplicate key '{key_node.value}'")
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

