"""The typed configuration: frozen dataclasses, one per section of gateway.example.yaml.

Everything here is already validated and resolved (secrets read from their env/file sources,
defaults filled in), so the rest of the gateway never sees raw YAML. Secrets (SKs, passwords)
are `field(repr=False)` so a config can be logged or shown in a traceback without leaking them.
"""
from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from ..passwords import verify_password

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UpstreamAuthMode = Literal["aksk", "token", "passthrough", "none"]

DEFAULT_MAX_BODY_BYTES = 12 * 1024 * 1024
DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class PasswordSpec:
    """A configured password: a plaintext (development) or a `password_hash` (production).

    Exactly one of the two is set. Neither ever appears in repr/str.
    """

    plaintext: str | None = field(default=None, repr=False)
    encoded: str | None = field(default=None, repr=False)

    @classmethod
    def plain(cls, password: str) -> "PasswordSpec":
        return cls(plaintext=password)

    @classmethod
    def hashed(cls, encoded: str) -> "PasswordSpec":
        return cls(encoded=encoded)

    @property
    def is_hashed(self) -> bool:
        return self.encoded is not None

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison against the plaintext, or scrypt verification of the hash."""
        if self.encoded is not None:
            return verify_password(candidate, self.encoded)
        if self.plaintext is None:
            return False
        return hmac.compare_digest(candidate.encode("utf-8"), self.plaintext.encode("utf-8"))

    def __repr__(self) -> str:
        return f"PasswordSpec({'hashed' if self.is_hashed else 'plaintext'})"


@dataclass(frozen=True)
class TlsConfig:
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class ListenConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    tls: TlsConfig | None = None
    trusted_proxies: tuple[IpNetwork, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    shutdown_grace_s: float = 30.0   # on SIGTERM, how long in-flight requests may run
    body_timeout_s: float = 60.0     # a buffered (signed) request body must arrive within this
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES   # all request bodies held at once
    header_timeout_s: float = 10.0   # a request's head must arrive within this once it starts
    keepalive_timeout_s: float = 75.0   # an idle keep-alive connection is closed after this
    max_connections: int = 1024      # concurrent client connections; more are answered 503
    public_url: str | None = None    # base URL put in token catalogs (None: the listener's)


@dataclass(frozen=True)
class AdminConfig:
    host: str = "127.0.0.1"
    port: int = 8081


@dataclass(frozen=True)
class UpstreamAuthConfig:
    """How the gateway authenticates itself to DDM.

    aksk: re-sign every request with `ak`/`sk` (and `algorithm`). token: obtain an IAM token at `iam_url` with
    `domain_name`/`user_name`/`password`, scoped to `project_id` or `project_name`.
    passthrough: forward the caller's own credentials. none: send no credentials (simulator).
    """

    mode: UpstreamAuthMode = "none"
    ak: str | None = None
    sk: str | None = field(default=None, repr=False)
    algorithm: str = "SDK-HMAC-SHA256"          # aksk: the SDK signing algorithm to re-sign with
    iam_url: str | None = None
    domain_name: str | None = None
    user_name: str | None = None
    password: str | None = field(default=None, repr=False)
    project_name: str | None = None
    project_id: str | None = None


@dataclass(frozen=True)
class UpstreamConfig:
    url: str
    auth: UpstreamAuthConfig = UpstreamAuthConfig()
    connect_timeout_s: float = 3.0
    timeout_s: float = 60.0
    retry_idempotent: bool = True
    read_timeout_s: float = 60.0                  # silence allowed while a streamed body is relayed
    pool_timeout_s: float = 1.0                   # wait for a free connection, then 503
    max_connections: int = 256
    max_connections_per_route: int | None = None  # None: three quarters of max_connections
    max_pending: int = 256                        # requests waiting for a connection; more: 503 at once
    trust_env: bool = True                        # HTTP(S)_PROXY / NO_PROXY for upstream and IAM


@dataclass(frozen=True)
class StoreConfig:
    url: str = field(repr=False)   # may carry a Redis password (redis://:pw@host)
    on_failure: Literal["open", "closed"] = "open"
    replicas: int = 1
    timeout_ms: int = 50


@dataclass(frozen=True)
class RateRuleConfig:
    """One entry of `limits.rules`: at most `limit` requests in any rolling `window_s` seconds,
    one budget per user, per listed group (shared by its members), per domain, or for everyone."""

    name: str
    per: Literal["user", "group", "domain", "global"]
    limit: int
    window_s: int
    groups: tuple[str, ...] = ()              # per: group only
    actions: tuple[str, ...] | None = None    # action patterns as in policies; None: every counted request
    mode: Literal["enforce", "report"] = "enforce"


@dataclass(frozen=True)
class LimitsConfig:
    per_user_per_minute: int = 60
    global_per_minute: int = 8000
    users: Mapping[str, int] = field(default_factory=dict)   # per-user overrides by user name
    auth_failures_per_ip_per_minute: int = 300
    rules: tuple[RateRuleConfig, ...] = ()


@dataclass(frozen=True)
class TokensConfig:
    ttl_s: int = 86400
    signing_key_file: Path | None = None        # None: generated into state_dir
    verification_key_files: tuple[Path, ...] = ()
    algorithm: Literal["ES256", "RS256"] = "ES256"


@dataclass(frozen=True)
class AuthConfig:
    max_clock_skew_s: int = 900
    lockout_threshold: int = 5
    lockout_s: int = 300
    replay_window: bool = False      # refuse a non-idempotent signed request's signature seen before


@dataclass(frozen=True)
class AuthzConfig:
    enforce_dependencies: bool = True
    enterprise_project_cache_s: float = 60.0         # how long a learned instance -> EP is trusted
    enterprise_project_cache_entries: int = 100_000  # per replica; the oldest go first when full
    enterprise_project_lookup_timeout_s: float = 5.0  # one show-instance lookup on a cache miss
    report_only_policies: tuple[str, ...] = ()   # custom policies audited (would_deny/would_allow), not enforced


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool | Path = True     # True: stdout, False: off, Path: append to that file
    audit_log: Path | None = None
    queue_lines: int = 10_000          # per log: lines waiting for the writer thread (access: then dropped)
    flush_interval_s: float = 0.1      # the writer thread writes what is queued this often (or at half full)


@dataclass(frozen=True)
class ProjectConfig:
    id: str
    name: str


@dataclass(frozen=True)
class EnterpriseProjectConfig:
    """An enterprise project of a domain; "0" (`default`) exists in every domain implicitly."""

    id: str
    name: str


DEFAULT_ENTERPRISE_PROJECT = EnterpriseProjectConfig("0", "default")


@dataclass(frozen=True)
class GrantConfig:
    policy: str
    projects: tuple[str, ...] | None = None   # names or ids; None: every project of the domain
    # enterprise-project ids (resolved from names at parse time); set instead of `projects`, the
    # grant covers only the resources in these enterprise projects, in every project
    enterprise_projects: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GroupConfig:
    name: str
    grants: tuple[GrantConfig, ...] = ()


@dataclass(frozen=True)
class CustomPolicyConfig:
    name: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class AccessKeyConfig:
    ak: str
    sk: str = field(repr=False)


@dataclass(frozen=True)
class UserConfig:
    id: str
    name: str
    password: PasswordSpec | None = None
    groups: tuple[str, ...] = ()
    access_keys: tuple[AccessKeyConfig, ...] = ()
    enabled: bool = True


@dataclass(frozen=True)
class DomainConfig:
    """An account. Its `password` belongs to the owner, who logs in with the domain name."""

    id: str
    name: str
    password: PasswordSpec | None = None
    projects: tuple[ProjectConfig, ...] = ()
    groups: tuple[GroupConfig, ...] = ()
    policies: tuple[CustomPolicyConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    enterprise_projects: tuple[EnterpriseProjectConfig, ...] = (DEFAULT_ENTERPRISE_PROJECT,)


@dataclass(frozen=True)
class IamConfig:
    domains: tuple[DomainConfig, ...] = ()


@dataclass(frozen=True)
class ReloadConfig:
    watch: bool = True          # reload when the config file changes, as on SIGHUP
    interval_s: float = 2.0     # how often the file is looked at (one stat call)


@dataclass(frozen=True)
class GatewayConfig:
    listen: ListenConfig = ListenConfig()
    admin: AdminConfig = AdminConfig()
    region: str = "cn-north-4"
    upstream: UpstreamConfig | None = None     # None: the embedded DDM simulator
    store: StoreConfig | None = None           # None: the in-process store (one replica)
    limits: LimitsConfig = LimitsConfig()
    tokens: TokensConfig = TokensConfig()
    state_dir: Path = Path(".ddm-gateway")     # relative paths: relative to the working directory
    iam: IamConfig = IamConfig()
    authz: AuthzConfig = AuthzConfig()
    auth: AuthConfig = AuthConfig()
    logging: LoggingConfig = LoggingConfig()
    reload: ReloadConfig = ReloadConfig()
    source_path: Path | None = None
