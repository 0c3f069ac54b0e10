"""Parsers for the plain sections: listen, admin, store, limits, tokens, auth, authz, logging, reload.

Each takes the section's Node (None when the section is absent, meaning "all defaults") and
returns its frozen dataclass. Cross-section checks (e.g. `limits.users` naming real users) live
in loader.py, where the whole config is known.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from policies import action_problem

from ..limits.redis_url import parse_redis_url
from .model import (AdminConfig, AuthConfig, AuthzConfig, IpNetwork, LimitsConfig, ListenConfig,
                    LoggingConfig, RateRuleConfig, ReloadConfig, StoreConfig, TlsConfig, TokensConfig)
from .reader import Node
from .secrets import Sources, optional_path, path_list

AK_PATTERN = r"[A-Za-z0-9]{1,64}"
PORT_MAX = 65535
LOG_LEVELS = ("debug", "info", "warning", "error")
STDOUT_NAMES = ("stdout", "-")
QUEUE_LINES_MAX = 1_000_000   # logging.queue_lines: memory is bounded by this times a line's size
FLUSH_INTERVAL_MAX_S = 10.0   # logging.flush_interval_s: what a crash may lose is one interval's lines


def listen_section(node: Node | None, sources: Sources) -> ListenConfig:
    if node is None:
        return ListenConfig()
    defaults = ListenConfig()
    config = ListenConfig(
        host=node.string("host", defaults.host),
        port=node.integer("port", defaults.port, maximum=PORT_MAX),
        tls=_tls(node.child("tls"), sources),
        trusted_proxies=_networks(node),
        max_body_bytes=node.integer("max_body_bytes", defaults.max_body_bytes),
        shutdown_grace_s=node.number("shutdown_grace_s", defaults.shutdown_grace_s),
        body_timeout_s=node.number("body_timeout_s", defaults.body_timeout_s),
        max_buffered_bytes=node.integer("max_buffered_bytes", defaults.max_buffered_bytes),
        header_timeout_s=node.number("header_timeout_s", defaults.header_timeout_s),
        keepalive_timeout_s=node.number("keepalive_timeout_s", defaults.keepalive_timeout_s),
        max_connections=node.integer("max_connections", defaults.max_connections),
        public_url=_public_url(node),
    )
    node.finish()
    return config


def _public_url(node: Node) -> str | None:
    url = node.string("public_url", None)
    if url is not None and not url_ok(url, ("http", "https")):
        node.problem("public_url", "must be an http:// or https:// URL with a host")
        return None
    return url.rstrip("/") if url else None


def _tls(node: Node | None, sources: Sources) -> TlsConfig | None:
    if node is None:
        return None
    cert = node.string("cert_file", required=True, what="path")
    key = node.string("key_file", required=True, what="path")
    node.finish()
    if cert is None or key is None:
        return None
    return TlsConfig(sources.path(cert), sources.path(key))


def _networks(node: Node) -> tuple[IpNetwork, ...]:
    found: list[IpNetwork] = []
    for path, item in node.items("trusted_proxies"):
        try:
            found.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            node.problems.add(path, "not an IP address or CIDR network")
    return tuple(found)


def admin_section(node: Node | None) -> AdminConfig:
    if node is None:
        return AdminConfig()
    defaults = AdminConfig()
    config = AdminConfig(host=node.string("host", defaults.host),
                         port=node.integer("port", defaults.port, maximum=PORT_MAX))
    node.finish()
    return config


def url_ok(url: str, schemes: tuple[str, ...]) -> bool:
    """A parseable URL with an allowed scheme and a host (unix: a socket path)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    if parts.scheme not in schemes:
        return False
    return bool(parts.path) if parts.scheme == "unix" else bool(parts.hostname)


def store_section(node: Node | None) -> StoreConfig | None:
    if node is None:
        return None
    url = node.string("url", "", required=True)
    if url:
        try:
            parse_redis_url(url)
        except ValueError as exc:
            node.problem("url", str(exc))
    defaults = StoreConfig(url="")
    config = StoreConfig(
        url=url,
        on_failure=node.string("on_failure", defaults.on_failure, choices=("open", "closed")),
        replicas=node.integer("replicas", defaults.replicas),
        timeout_ms=node.integer("timeout_ms", defaults.timeout_ms),
    )
    node.finish()
    return config


@dataclass
class RuleReferences:
    """What `limits.rules` names that only the whole config can check (groups live in `iam`,
    actions in the route catalog), each with the path it was written at: loader._cross_check
    checks them once every section is parsed, so messages point at the exact entry."""

    groups: list[tuple[str, str]] = field(default_factory=list)               # (path, group)
    actions: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (path, patterns)


def limits_section(node: Node | None, references: RuleReferences | None = None) -> LimitsConfig:
    if node is None:
        return LimitsConfig()
    defaults = LimitsConfig()
    config = LimitsConfig(
        per_user_per_minute=node.integer("per_user_per_minute", defaults.per_user_per_minute),
        global_per_minute=node.integer("global_per_minute", defaults.global_per_minute),
        users=_user_limits(node.child("users")),
        auth_failures_per_ip_per_minute=node.integer("auth_failures_per_ip_per_minute",
                                                     defaults.auth_failures_per_ip_per_minute),
        rules=_rate_rules(node, references if references is not None else RuleReferences()),
    )
    node.finish()
    return config


RULE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
RESERVED_RULE_NAMES = ("user", "global", "ip", "api")   # the built-in budgets' names in headers and 429s
RULE_SCOPES = ("user", "group", "domain", "global")
MAX_RULES = 32                 # acquire.lua reports would-reject rules as bits of one number
MAX_RULE_LIMIT = 100_000       # each budget keeps one timestamp per counted request (README)
MAX_RULE_WINDOW_S = 86_400


def _rate_rules(node: Node, references: RuleReferences) -> tuple[RateRuleConfig, ...]:
    found: list[RateRuleConfig] = []
    first_at: dict[str, str] = {}
    for rule_node in node.nodes("rules"):
        rule = _rate_rule(rule_node, references)
        if rule is None:
            continue
        first = first_at.setdefault(rule.name, rule_node.at("name"))
        if first != rule_node.at("name"):
            rule_node.problem("name", f"duplicate rule '{rule.name}' (first at {first})")
            continue
        found.append(rule)
    if len(found) > MAX_RULES:
        node.problem("rules", f"at most {MAX_RULES} rules")
    return tuple(found[:MAX_RULES])


def _rate_rule(node: Node, references: RuleReferences) -> RateRuleConfig | None:
    """One rule; None when it is unusable (its problems are recorded)."""
    name = node.string("name", None, required=True, pattern=RULE_NAME_PATTERN, what="rule name")
    if name in RESERVED_RULE_NAMES:
        node.problem("name", f"'{name}' is the name of a built-in budget")
        name = None
    per = node.string("per", None, required=True, choices=RULE_SCOPES)
    limit = node.integer("limit", 0, required=True, maximum=MAX_RULE_LIMIT)
    window_s = node.integer("window_s", 0, required=True, maximum=MAX_RULE_WINDOW_S)
    located = node.located_strings("groups") if node.raw("groups") is not None else None
    groups = tuple(group for _, group in located) if located is not None else None
    references.groups += located or []
    if per == "group" and not groups:
        node.problem("groups", "is required (a non-empty list) for per: group")
    elif per is not None and per != "group" and groups is not None:
        node.problem("groups", "is only for per: group")
    actions = _rule_actions(node)
    if actions:
        references.actions.append((node.at("actions"), actions))
    mode = node.string("mode", "enforce", choices=("enforce", "report"))
    node.finish()
    if name is None or per is None or not limit or not window_s or (per == "group" and not groups):
        return None
    return RateRuleConfig(name=name, per=per, limit=limit, window_s=window_s,
                          groups=groups if per == "group" and groups else (), actions=actions, mode=mode)


def _rule_actions(node: Node) -> tuple[str, ...] | None:
    """Action patterns as policies write them (`ddm:*:list`); absent: every counted request."""
    raw = node.raw("actions")
    if raw is None:
        return None
    if raw == []:
        node.problem("actions", "must list at least one action (leave it out for every request)")
    found = []
    for path, action in node.located_strings("actions"):
        problem = action_problem(action)
        if problem:
            node.problems.add(path, problem)
        else:
            found.append(action)
    return tuple(found)


def _user_limits(node: Node | None) -> dict[str, int]:
    """Per-user budgets by user name; non-string keys fall through to "unknown key"."""
    if node is None:
        return {}
    found = {name: node.integer(name, 0, required=True)
             for name in list(node.data) if isinstance(name, str)}
    node.finish()
    return {name: value for name, value in found.items() if value > 0}


def tokens_section(node: Node | None, sources: Sources) -> TokensConfig:
    if node is None:
        return TokensConfig()
    defaults = TokensConfig()
    config = TokensConfig(
        ttl_s=node.integer("ttl_s", defaults.ttl_s),
        signing_key_file=optional_path(node, "signing_key_file", sources),
        verification_key_files=path_list(node, "verification_key_files", sources),
        algorithm=node.string("algorithm", defaults.algorithm, choices=("ES256", "RS256")),
    )
    node.finish()
    return config


def auth_section(node: Node | None) -> AuthConfig:
    if node is None:
        return AuthConfig()
    defaults = AuthConfig()
    config = AuthConfig(
        max_clock_skew_s=node.integer("max_clock_skew_s", defaults.max_clock_skew_s),
        lockout_threshold=node.integer("lockout_threshold", defaults.lockout_threshold),
        lockout_s=node.integer("lockout_s", defaults.lockout_s),
        replay_window=node.boolean("replay_window", defaults.replay_window),
    )
    node.finish()
    return config


def authz_section(node: Node | None) -> AuthzConfig:
    if node is None:
        return AuthzConfig()
    defaults = AuthzConfig()
    config = AuthzConfig(
        enforce_dependencies=node.boolean("enforce_dependencies", True),
        enterprise_project_cache_s=node.number("enterprise_project_cache_s",
                                               defaults.enterprise_project_cache_s),
        enterprise_project_cache_entries=node.integer("enterprise_project_cache_entries",
                                                      defaults.enterprise_project_cache_entries),
        enterprise_project_lookup_timeout_s=node.number("enterprise_project_lookup_timeout_s",
                                                        defaults.enterprise_project_lookup_timeout_s),
        report_only_policies=node.strings("report_only_policies") or (),
    )
    node.finish()
    return config


def reload_section(node: Node | None) -> ReloadConfig:
    if node is None:
        return ReloadConfig()
    defaults = ReloadConfig()
    config = ReloadConfig(watch=node.boolean("watch", defaults.watch),
                          interval_s=node.number("interval_s", defaults.interval_s))
    node.finish()
    return config


def _flush_interval(node: Node, default: float) -> float:
    interval = node.number("flush_interval_s", default)
    if interval > FLUSH_INTERVAL_MAX_S:
        node.problem("flush_interval_s", f"must be at most {FLUSH_INTERVAL_MAX_S:g}")
        return default
    return interval


def logging_section(node: Node | None, sources: Sources) -> LoggingConfig:
    if node is None:
        return LoggingConfig()
    defaults = LoggingConfig()
    config = LoggingConfig(
        level=node.string("level", defaults.level, choices=LOG_LEVELS),
        access_log=_access_log(node, sources),
        audit_log=optional_path(node, "audit_log", sources),
        queue_lines=node.integer("queue_lines", defaults.queue_lines, maximum=QUEUE_LINES_MAX),
        flush_interval_s=_flush_interval(node, defaults.flush_interval_s),
    )
    node.finish()
    return config


def _access_log(node: Node, sources: Sources) -> bool | Path:
    """true/"stdout"/"-": stdout; false: off; any other string: a file path."""
    value = node.typed("access_log", (bool, str))
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value and value not in STDOUT_NAMES:
        return sources.path(value)
    return True
