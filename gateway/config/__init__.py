"""Typed gateway configuration: loading, validation (`config check`) and the built-in demo."""
from __future__ import annotations

from .commands import run_config_check, run_hash_password
from .demo import DEMO_CONFIG_PATH, demo_config, demo_credentials
from .loader import (SYSTEM_POLICY_NAMES, ConfigError, check_config_file, load_config,
                     parse_config, read_yaml)
from .model import (AccessKeyConfig, AdminConfig, AuthConfig, AuthzConfig, CustomPolicyConfig,
                    DomainConfig, GatewayConfig, GrantConfig, GroupConfig, IamConfig,
                    LimitsConfig, ListenConfig, LoggingConfig, PasswordSpec, ProjectConfig,
                    StoreConfig, TlsConfig, TokensConfig, UpstreamAuthConfig, UpstreamConfig,
                    UserConfig)

__all__ = [
    "AccessKeyConfig", "AdminConfig", "AuthConfig", "AuthzConfig", "ConfigError",
    "CustomPolicyConfig", "DEMO_CONFIG_PATH", "DomainConfig", "GatewayConfig", "GrantConfig",
    "GroupConfig", "IamConfig", "LimitsConfig", "ListenConfig", "LoggingConfig", "PasswordSpec",
    "ProjectConfig", "SYSTEM_POLICY_NAMES", "StoreConfig", "TlsConfig", "TokensConfig",
    "UpstreamAuthConfig", "UpstreamConfig", "UserConfig", "check_config_file", "demo_config",
    "demo_credentials", "load_config", "parse_config", "read_yaml", "run_config_check",
    "run_hash_password",
]
