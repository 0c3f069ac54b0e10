"""Parser for the `upstream` section: where DDM is and how the gateway authenticates to it.

Each auth mode owns a set of keys (MODE_KEYS); a key of another mode is reported as such rather
than as "unknown", because it usually means the mode line was changed and the rest forgotten.
"""
from __future__ import annotations

from .model import UpstreamAuthConfig, UpstreamConfig
from .reader import Node
from .secrets import Sources, read_secret
from .sections import AK_PATTERN, url_ok

UPSTREAM_SCHEMES = ("http", "https")
# The SDK's signing algorithms (docs/sdk-facts.md), usable to re-sign towards DDM.
SIGNING_ALGORITHMS = ("SDK-HMAC-SHA256", "SDK-HMAC-SM3", "SDK-ECDSA-P256-SHA256", "SDK-SM2-SM3",
                      "V11-HMAC-SHA256")
# Keys of `upstream.auth` that belong to one mode; any other mode must not set them.
MODE_KEYS: dict[str, tuple[str, ...]] = {
    "aksk": ("ak", "sk", "sk_env", "sk_file", "algorithm"),
    "token": ("iam_url", "domain_name", "user_name", "password", "password_env", "password_file",
              "project_name", "project_id"),
    "passthrough": (),
    "none": (),
}


def upstream_section(node: Node | None, region: str, sources: Sources) -> UpstreamConfig | None:
    if node is None:
        return None
    defaults = UpstreamConfig(url="")
    url = node.string("url", "", required=True)
    if url and not url_ok(url, UPSTREAM_SCHEMES):
        node.problem("url", "must be an http:// or https:// URL with a host")
    config = UpstreamConfig(
        url=url,
        auth=upstream_auth(node.child("auth"), region, sources),
        connect_timeout_s=node.number("connect_timeout_s", defaults.connect_timeout_s),
        timeout_s=node.number("timeout_s", defaults.timeout_s),
        retry_idempotent=node.boolean("retry_idempotent", defaults.retry_idempotent),
        read_timeout_s=node.number("read_timeout_s", defaults.read_timeout_s),
        pool_timeout_s=node.number("pool_timeout_s", defaults.pool_timeout_s),
        max_connections=node.integer("max_connections", defaults.max_connections, maximum=65536),
        max_connections_per_route=_per_route(node),
        max_pending=node.integer("max_pending", defaults.max_pending, minimum=0, maximum=1 << 20),
        trust_env=node.boolean("trust_env", defaults.trust_env),
    )
    node.finish()
    return config


def _per_route(node: Node) -> int | None:
    if not node.has("max_connections_per_route"):
        node.raw("max_connections_per_route")
        return None
    return node.integer("max_connections_per_route", 1, maximum=65536)


def upstream_auth(node: Node | None, region: str, sources: Sources) -> UpstreamAuthConfig:
    """Per mode: aksk needs ak + one sk source; token needs domain/user/password; others none."""
    if node is None:
        return UpstreamAuthConfig()
    mode = node.string("mode", None, choices=tuple(MODE_KEYS))
    if mode is None and node.has("mode"):   # a bad mode: its keys cannot be judged
        for key in (key for keys in MODE_KEYS.values() for key in keys):
            node.raw(key)
        node.finish()
        return UpstreamAuthConfig()
    mode = mode or "none"
    for other, keys in MODE_KEYS.items():
        for key in keys:
            if other != mode and key not in MODE_KEYS[mode] and node.has(key):
                node.raw(key)
                node.problem(key, f"only used with mode {other}, not {mode}")
    if mode == "aksk":
        config = UpstreamAuthConfig(
            mode="aksk", ak=node.string("ak", required=True, pattern=AK_PATTERN, what="access key"),
            sk=read_secret(node, "sk", sources, required=True),
            algorithm=node.string("algorithm", "SDK-HMAC-SHA256", choices=SIGNING_ALGORITHMS))
    elif mode == "token":
        config = _token_auth(node, region, sources)
    else:
        config = UpstreamAuthConfig(mode=mode)
    node.finish()
    return config


def _token_auth(node: Node, region: str, sources: Sources) -> UpstreamAuthConfig:
    iam_url = node.string("iam_url", f"https://iam.{region}.myhuaweicloud.com")
    if not url_ok(iam_url, UPSTREAM_SCHEMES):
        node.problem("iam_url", "must be an http:// or https:// URL with a host")
    node.exclusive(("project_name", "project_id"), required=False)
    project_id = node.string("project_id")
    return UpstreamAuthConfig(
        mode="token", iam_url=iam_url,
        domain_name=node.string("domain_name", required=True),
        user_name=node.string("user_name", required=True),
        password=read_secret(node, "password", sources, required=True),
        project_name=node.string("project_name", None if project_id else region),
        project_id=project_id,
    )
