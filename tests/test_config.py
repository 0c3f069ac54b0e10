"""Config loading against the contract example, and path-specific problems on broken copies."""
from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from gateway.config import (ConfigError, GatewayConfig, PasswordSpec, check_config_file,
                            load_config, parse_config)
from gateway.config.iam import basic_document_problems
from gateway.passwords import hash_password

from .paths import EXAMPLE_CONFIG

EXAMPLE = EXAMPLE_CONFIG
ENV = {"DDMGW_UPSTREAM_SK": "upstream-secret-from-env-XYZ", "BOB_SK": "bob-secret-from-env-XYZ"}


@pytest.fixture(scope="module")
def example_data() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def problems_of(data: object, environ: dict[str, str] | None = None, **kwargs: Any) -> list[str]:
    try:
        parse_config(data, environ=ENV if environ is None else environ, **kwargs)
    except ConfigError as err:
        return err.problems
    return []


# --- the contract example ----------------------------------------------------------------------

def test_example_loads_with_its_environment() -> None:
    config = load_config(EXAMPLE, environ=ENV)
    assert isinstance(config, GatewayConfig)
    assert config.source_path == EXAMPLE
    assert (config.listen.host, config.listen.port) == ("127.0.0.1", 8080)
    assert (config.admin.host, config.admin.port) == ("127.0.0.1", 8081)
    assert config.region == "cn-north-4"
    assert config.upstream is not None and config.upstream.url == "http://127.0.0.1:9000"
    assert config.upstream.auth.mode == "aksk"
    assert config.upstream.auth.ak == "UPSTREAMAK0000000001"
    assert config.upstream.auth.sk == ENV["DDMGW_UPSTREAM_SK"]
    assert (config.upstream.connect_timeout_s, config.upstream.timeout_s) == (3.0, 60.0)
    assert config.store is not None and config.store.on_failure == "open"
    assert config.store.url == "redis://127.0.0.1:6379/0"
    assert (config.limits.per_user_per_minute, config.limits.global_per_minute) == (60, 8000)
    assert config.tokens.ttl_s == 86400 and config.tokens.signing_key_file is None
    assert config.state_dir == Path(".ddm-gateway")


def test_example_iam_section() -> None:
    domain, = load_config(EXAMPLE, environ=ENV).iam.domains
    assert (domain.id, domain.name) == ("0a1b2c3d4e5f40718293a4b5c6d7e8f9", "acme")
    assert domain.password is not None and domain.password.matches("acme-root-pass")
    assert [p.name for p in domain.projects] == ["cn-north-4", "cn-east-2"]
    groups = {g.name: g for g in domain.groups}
    assert groups["dba"].grants[0].policy == "DDM FullAccess"
    assert groups["dba"].grants[0].projects == ("cn-north-4",)
    assert groups["readers"].grants[0].projects is None
    assert [g.policy for g in groups["guarded"].grants] == ["DDM FullAccess", "no-instance-delete"]
    policy, = domain.policies
    assert policy.document["Statement"][0]["Action"] == ["ddm:instance:delete"]
    alice, bob = domain.users
    assert alice.groups == ("dba",) and alice.enabled
    assert alice.access_keys[0].sk == "alice-secret-key-0000000000000000000001"
    assert bob.access_keys[0].ak == "BOBAK000000000000001"
    assert bob.access_keys[0].sk == ENV["BOB_SK"]
    assert bob.password is not None and bob.password.matches("bob-pass-1")
    assert not bob.password.matches("bob-pass-2")


def test_example_without_environment_names_exact_paths() -> None:
    assert check_config_file(EXAMPLE, environ={}) == [
        "upstream.auth.sk_env: environment variable DDMGW_UPSTREAM_SK is not set",
        "iam.domains[0].users[1].access_keys[0].sk_env: environment variable BOB_SK is not set",
    ]


def test_empty_environment_variable_is_refused() -> None:
    problems = check_config_file(EXAMPLE, environ={**ENV, "BOB_SK": ""})
    assert problems == ["iam.domains[0].users[1].access_keys[0].sk_env: "
                        "environment variable BOB_SK is empty"]


# --- broken copies -----------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _user(data: dict[str, Any], index: int) -> dict[str, Any]:
    return data["iam"]["domains"][0]["users"][index]


def _set(path: str, value: Any) -> Mutation:
    """Mutation setting a dotted path ("iam.domains.0.users.1.groups")."""
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return apply


def _rename(path: str, old: str, new: str, value: Any) -> Mutation:
    """Mutation replacing key `old` by `new` (with `value`) in the mapping at `path`."""
    def apply(data: dict[str, Any]) -> None:
        target: Any = data
        for part in path.split("."):
            target = target[int(part)] if part.isdigit() else target[part]
        del target[old]
        target[new] = value
    return apply


BROKEN: list[tuple[str, Mutation, str]] = [
    ("unknown top-level key", _set("listne", {"port": 1}), "listne: unknown key"),
    ("unknown key in section", _set("listen.prot", 8080), "listen.prot: unknown key"),
    ("unknown key in upstream.auth", _set("upstream.auth.sk_evn", "X"),
     "upstream.auth.sk_evn: unknown key"),
    ("unknown key deep in a user", _set("iam.domains.0.users.1.group", ["dba"]),
     "iam.domains[0].users[1].group: unknown key"),
    ("unknown key in an access key", _set("iam.domains.0.users.0.access_keys.0.secret", "x"),
     "iam.domains[0].users[0].access_keys[0].secret: unknown key"),
    ("unknown key in a grant", _set("iam.domains.0.groups.0.grants.0.project", ["cn-north-4"]),
     "iam.domains[0].groups[0].grants[0].project: unknown key"),
    ("duplicate AK", _set("iam.domains.0.users.1.access_keys.0.ak", "ALICEAK0000000000001"),
     "iam.domains[0].users[1].access_keys[0].ak: duplicate access key 'ALICEAK0000000000001' "
     "(first at iam.domains[0].users[0].access_keys[0].ak)"),
    ("duplicate user id", _set("iam.domains.0.users.1.id", "7f2e0c5a9b8d4e6f8a1b2c3d4e5f6a7b"),
     "iam.domains[0].users[1].id: duplicate user id '7f2e0c5a9b8d4e6f8a1b2c3d4e5f6a7b' "
     "(first at iam.domains[0].users[0].id)"),
    ("duplicate user name", _set("iam.domains.0.users.1.name", "alice"),
     "iam.domains[0].users[1].name: duplicate user name 'alice' "
     "(first at iam.domains[0].users[0].name)"),
    ("user named like the owner", _set("iam.domains.0.users.1.name", "acme"),
     "iam.domains[0].users[1].name: duplicate user name 'acme' (first at iam.domains[0].name)"),
    ("duplicate group", _set("iam.domains.0.groups.1.name", "dba"),
     "iam.domains[0].groups[1].name: duplicate group name 'dba' "
     "(first at iam.domains[0].groups[0].name)"),
    ("duplicate project name", _set("iam.domains.0.projects.1.name", "cn-north-4"),
     "iam.domains[0].projects[1].name: duplicate project name 'cn-north-4' "
     "(first at iam.domains[0].projects[0].name)"),
    ("unknown group", _set("iam.domains.0.users.1.groups", ["readers", "dbas"]),
     "iam.domains[0].users[1].groups[1]: unknown group 'dbas'"),
    ("unknown policy", _set("iam.domains.0.groups.1.grants.0.policy", "DDM ReadAccess"),
     "iam.domains[0].groups[1].grants[0].policy: unknown policy 'DDM ReadAccess' "
     "(neither a system policy nor a custom policy of this domain)"),
    ("unknown grant project", _set("iam.domains.0.groups.0.grants.0.projects", ["cn-south-1"]),
     "iam.domains[0].groups[0].grants[0].projects[0]: unknown project 'cn-south-1'"),
    ("empty grant project list", _set("iam.domains.0.groups.0.grants.0.projects", []),
     "iam.domains[0].groups[0].grants[0].projects: must not be empty "
     "(leave it out to cover every project)"),
    ("bad type (string port)", _set("listen.port", "8080"),
     "listen.port: expected an integer, got a string"),
    ("bad type (boolean port)", _set("admin.port", True),
     "admin.port: expected an integer, got a boolean"),
    ("bad type (section is a list)", _set("limits", [60]),
     "limits: expected a mapping, got a list"),
    ("bad type (groups is a string)", _set("iam.domains.0.users.0.groups", "dba"),
     "iam.domains[0].users[0].groups: expected a list, got a string"),
    ("bad port", _set("listen.port", 70000), "listen.port: must be between 1 and 65535"),
    ("zero port", _set("admin.port", 0), "admin.port: must be between 1 and 65535"),
    ("sk and sk_env together", _set("iam.domains.0.users.1.access_keys.0.sk", "inline"),
     "iam.domains[0].users[1].access_keys[0].sk_env: conflicts with sk: "
     "set only one of sk, sk_env, sk_file"),
    ("no sk at all", _set("iam.domains.0.users.0.access_keys.0.sk", None),
     "iam.domains[0].users[0].access_keys[0]: one of sk, sk_env, sk_file is required"),
    ("bad AK format", _set("iam.domains.0.users.0.access_keys.0.ak", "ALICE-AK"),
     "iam.domains[0].users[0].access_keys[0].ak: not a valid access key"),
    ("bad user id", _set("iam.domains.0.users.0.id", "not an id!"),
     "iam.domains[0].users[0].id: not a valid user id"),
    ("missing user name", _set("iam.domains.0.users.0.name", None),
     "iam.domains[0].users[0].name: is required"),
    ("negative limit", _set("limits.per_user_per_minute", -5),
     "limits.per_user_per_minute: must be >= 1"),
    ("limit override for an unknown user", _set("limits.users", {"carol": 10}),
     "limits.users.carol: unknown user 'carol'"),
    ("bad upstream URL", _set("upstream.url", "ftp://ddm"),
     "upstream.url: must be an http:// or https:// URL with a host"),
    ("bad store URL", _set("store.url", "memcached://x"),
     "store.url: must be a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL"),
    ("store URL option the store would ignore", _set("store.url", "redis://127.0.0.1/0?socket_timeout=1"),
     "store.url: unsupported URL parameter(s) socket_timeout (supported: db, password, username)"),
    ("bad on_failure", _set("store.on_failure", "maybe"),
     "store.on_failure: must be one of open, closed"),
    ("bad auth mode", _set("upstream.auth.mode", "kerberos"),
     "upstream.auth.mode: must be one of aksk, token, passthrough, none"),
    ("key of another mode", _set("upstream.auth.mode", "passthrough"),
     "upstream.auth.ak: only used with mode aksk, not passthrough"),
    # Policy documents: the message is the policy validator's; the path is ours.
    ("unquoted policy version", _set("iam.domains.0.policies.0.document.Version", 1.1),
     "iam.domains[0].policies[0].document.Version: "),
    ("policy without statements", _set("iam.domains.0.policies.0.document.Statement", []),
     "iam.domains[0].policies[0].document.Statement: "),
    ("policy document not a mapping", _set("iam.domains.0.policies.0.document", ["Allow"]),
     "iam.domains[0].policies[0].document: expected a mapping, got a list"),
    ("custom policy shadowing a system one",
     _set("iam.domains.0.policies.0.name", "DDM FullAccess"),
     "iam.domains[0].policies[0].name: 'DDM FullAccess' is a system policy name; choose another"),
    ("bad password hash", _rename("iam.domains.0.users.0", "password", "password_hash",
                                  "scrypt$oops"),
     "iam.domains[0].users[0].password_hash: not a valid scrypt hash "
     "(make one with `ddm-gateway hash-password`)"),
    ("bad trusted proxy", _set("listen.trusted_proxies", ["10.0.0.0/8", "proxy.local"]),
     "listen.trusted_proxies[1]: not an IP address or CIDR network"),
    ("admin on the public address", _set("admin.port", 8080),
     "admin.port: same address as listen (127.0.0.1:8080)"),
    ("bad region", _set("region", "CN North 4"), "region: not a valid region name"),
    ("bad log level", _set("logging", {"level": "loud"}),
     "logging.level: must be one of debug, info, warning, error"),
]


@pytest.mark.parametrize("mutate, expected", [(m, e) for _, m, e in BROKEN],
                         ids=[name for name, _, _ in BROKEN])
def test_broken_copy_reports_path(example_data: dict[str, Any], mutate: Mutation,
                                  expected: str) -> None:
    data = copy.deepcopy(example_data)
    mutate(data)
    assert _reported(expected, problems_of(data))


def _reported(expected: str, found: list[str]) -> bool:
    """Exact line, or (expected ending in ": ") some line at that path."""
    return any(line == expected or (expected.endswith(": ") and line.startswith(expected))
               for line in found)


# Mutations touching different places, so applying all of them must report every line.
TOGETHER = ("unknown top-level key", "unknown key in upstream.auth", "unknown key deep in a user",
            "duplicate AK", "duplicate project name", "unknown group", "unknown grant project",
            "bad type (string port)", "zero port", "no sk at all", "negative limit",
            "bad store URL", "unquoted policy version", "bad password hash")


def test_all_problems_are_reported_at_once(example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    chosen = [(mutate, expected) for name, mutate, expected in BROKEN if name in TOGETHER]
    assert len(chosen) == len(TOGETHER)
    for mutate, _ in chosen:
        mutate(data)
    found = problems_of(data)
    assert len(found) == len(chosen)
    for _, expected in chosen:
        assert _reported(expected, found), expected


def test_broken_file_via_check_config_file(tmp_path: Path, example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    _user(data, 1)["groups"] = ["dbas"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    assert check_config_file(broken, environ=ENV) == [
        "iam.domains[0].users[1].groups[0]: unknown group 'dbas'"]
    with pytest.raises(ConfigError) as caught:
        load_config(broken, environ=ENV)
    assert caught.value.problems == ["iam.domains[0].users[1].groups[0]: unknown group 'dbas'"]
    assert "unknown group 'dbas'" in str(caught.value)


def test_duplicate_ak_across_domains(example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    other = {"id": "ffff0000ffff0000ffff0000ffff0000", "name": "other",
             "users": [{"id": "eeee0000eeee0000eeee0000eeee0000", "name": "alice",
                        "access_keys": [{"ak": "ALICEAK0000000000001", "sk": "s"}]}]}
    data["iam"]["domains"].append(other)
    assert problems_of(data) == [
        "iam.domains[1].users[0].access_keys[0].ak: duplicate access key 'ALICEAK0000000000001' "
        "(first at iam.domains[0].users[0].access_keys[0].ak)"]


def test_grant_may_name_project_by_id(example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    data["iam"]["domains"][0]["groups"][0]["grants"][0]["projects"] = [
        "05041fea8a8025662f4ac00927982f3e"]
    assert problems_of(data) == []


# --- secrets -----------------------------------------------------------------------------------

def test_secrets_never_in_repr_or_str(example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    _user(data, 1).pop("password")
    _user(data, 1)["password_hash"] = hash_password("bob-pass-1", salt=b"fixedsaltfixedsa")
    config = parse_config(data, environ=ENV)
    shown = repr(config) + str(config)
    secrets = [ENV["DDMGW_UPSTREAM_SK"], ENV["BOB_SK"], "alice-secret-key-0000000000000000000001",
               "acme-root-pass", "alice-pass-1", _user(data, 1)["password_hash"],
               "redis://127.0.0.1:6379/0"]
    for secret in secrets:
        assert secret not in shown
    assert "PasswordSpec(hashed)" in shown and "PasswordSpec(plaintext)" in shown


def test_secret_values_never_echoed_in_problems(example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    _user(data, 0)["access_keys"][0]["sk"] = 12345678
    _user(data, 0)["password"] = ["hunter2"]
    found = "\n".join(problems_of(data))
    assert "12345678" not in found and "hunter2" not in found
    assert "iam.domains[0].users[0].access_keys[0].sk: expected a string, got an integer" in found


def test_password_spec_matching() -> None:
    plain = PasswordSpec.plain("s3cret")
    hashed = PasswordSpec.hashed(hash_password("s3cret"))
    for spec in (plain, hashed):
        assert spec.matches("s3cret")
        assert not spec.matches("s3cret ")
        assert not spec.matches("")
    assert PasswordSpec().matches("anything") is False


def test_sk_file_relative_to_config_dir(tmp_path: Path, example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    del _user(data, 1)["access_keys"][0]["sk_env"]
    _user(data, 1)["access_keys"][0]["sk_file"] = "secrets/bob.sk"
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "bob.sk").write_text("bob-secret-from-file\n")
    config_file = tmp_path / "gw.yaml"
    config_file.write_text(yaml.safe_dump(data))
    config = load_config(config_file, environ=ENV)
    assert config.iam.domains[0].users[1].access_keys[0].sk == "bob-secret-from-file"


def test_sk_file_missing_is_reported(tmp_path: Path, example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    del _user(data, 1)["access_keys"][0]["sk_env"]
    _user(data, 1)["access_keys"][0]["sk_file"] = "nope.sk"
    found = problems_of(data, base_dir=tmp_path)
    assert found == [f"iam.domains[0].users[1].access_keys[0].sk_file: cannot read "
                     f"{tmp_path / 'nope.sk'}: No such file or directory"]


# --- defaults, shapes and files ----------------------------------------------------------------

@pytest.mark.parametrize("data", [{}, None])
def test_empty_config_is_all_defaults(data: object) -> None:
    config = parse_config(data, environ={})
    assert config == GatewayConfig()
    assert config.upstream is None and config.store is None
    assert config.listen.max_body_bytes == 12 * 1024 * 1024
    assert config.tokens.algorithm == "ES256" and config.auth.lockout_threshold == 5
    assert config.authz.enforce_dependencies and config.logging.access_log is True


def test_root_must_be_a_mapping() -> None:
    assert problems_of(["listen"]) == ["<root>: expected a mapping, got a list"]


def test_optional_sections_parse() -> None:
    config = parse_config({
        "listen": {"tls": {"cert_file": "/etc/gw/cert.pem", "key_file": "key.pem"},
                   "trusted_proxies": ["10.0.0.0/8", "::1"], "max_body_bytes": 1024},
        "tokens": {"algorithm": "RS256", "verification_key_files": ["old.pem"]},
        "logging": {"level": "debug", "access_log": "logs/access.log", "audit_log": "audit.log"},
        "store": {"url": "unix:///run/redis.sock", "on_failure": "closed", "replicas": 3},
        "auth": {"max_clock_skew_s": 300}, "authz": {"enforce_dependencies": False},
        "state_dir": "/var/lib/ddm-gateway",
    }, environ={}, base_dir=Path("/etc/gw"))
    assert config.listen.tls is not None
    assert config.listen.tls.cert_file == Path("/etc/gw/cert.pem")
    assert config.listen.tls.key_file == Path("/etc/gw/key.pem")
    assert config.listen.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),
                                             ipaddress.ip_network("::1/128"))
    assert config.tokens.verification_key_files == (Path("/etc/gw/old.pem"),)
    assert config.logging.access_log == Path("/etc/gw/logs/access.log")
    assert config.store is not None and config.store.replicas == 3
    assert config.auth.max_clock_skew_s == 300 and not config.authz.enforce_dependencies
    assert config.state_dir == Path("/var/lib/ddm-gateway")


def test_token_mode_upstream() -> None:
    config = parse_config({"upstream": {"url": "https://ddm.cn-north-4.myhuaweicloud.com", "auth": {
        "mode": "token", "domain_name": "acme", "user_name": "svc", "password_env": "PW"}}},
        environ={"PW": "svc-pass"})
    assert config.upstream is not None
    auth = config.upstream.auth
    assert (auth.mode, auth.user_name, auth.password) == ("token", "svc", "svc-pass")
    assert auth.iam_url == "https://iam.cn-north-4.myhuaweicloud.com"
    assert auth.project_name == "cn-north-4" and auth.project_id is None
    assert "svc-pass" not in repr(config)


def test_token_mode_requires_its_keys() -> None:
    found = problems_of({"upstream": {"url": "https://ddm", "auth": {"mode": "token",
                                                                    "project_id": "a",
                                                                    "project_name": "b"}}})
    assert found == [
        "upstream.auth.project_id: conflicts with project_name: set only one of project_name, "
        "project_id",
        "upstream.auth.domain_name: is required",
        "upstream.auth.user_name: is required",
        "upstream.auth: one of password, password_env, password_file is required",
    ]


def test_missing_upstream_url() -> None:
    assert problems_of({"upstream": {"auth": {"mode": "none"}}}) == ["upstream.url: is required"]


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    config_file = tmp_path / "dup.yaml"
    config_file.write_text("listen:\n  port: 8080\n  port: 9090\n")
    assert check_config_file(config_file, environ={}) == [
        f"{config_file}: line 3: duplicate key 'port'"]


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [1, 2\n")
    found = check_config_file(bad, environ={})
    assert len(found) == 1 and found[0].startswith(f"{bad}: invalid YAML:") and "line" in found[0]
    missing = tmp_path / "missing.yaml"
    assert check_config_file(missing, environ={}) == [
        f"{missing}: cannot read: No such file or directory"]


def test_full_policy_validator_is_used_and_prefixed(example_data: dict[str, Any]) -> None:
    def validator(document: Any) -> list[str]:
        return ["Statement[0].Action[0]: unknown action 'ddm:instance:delete'",
                "(document): must be a JSON object"]
    found = problems_of(copy.deepcopy(example_data), validate_document=validator)
    assert found == ["iam.domains[0].policies[0].document.Statement[0].Action[0]: "
                     "unknown action 'ddm:instance:delete'",
                     "iam.domains[0].policies[0].document: (document): must be a JSON object"]


def test_system_policy_names_can_be_injected(example_data: dict[str, Any]) -> None:
    found = problems_of(copy.deepcopy(example_data), system_policies=("DDM FullAccess",))
    assert "iam.domains[0].groups[1].grants[0].policy: unknown policy 'DDM ReadOnlyAccess' " \
           "(neither a system policy nor a custom policy of this domain)" in found


def test_duplicate_domain_reported_once_per_field(example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    data["iam"]["domains"].append({"id": "0a1b2c3d4e5f40718293a4b5c6d7e8f9", "name": "acme"})
    assert problems_of(data) == [
        "iam.domains[1].id: duplicate domain id '0a1b2c3d4e5f40718293a4b5c6d7e8f9' "
        "(first at iam.domains[0].id)",
        "iam.domains[1].name: duplicate domain name 'acme' (first at iam.domains[0].name)",
    ]


def test_user_id_may_not_reuse_a_domain_id(example_data: dict[str, Any]) -> None:
    """The owner is indexed by the domain id as its user id, so a user may not take it."""
    data = copy.deepcopy(example_data)
    _user(data, 0)["id"] = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
    assert problems_of(data) == [
        "iam.domains[0].users[0].id: duplicate user id '0a1b2c3d4e5f40718293a4b5c6d7e8f9' "
        "(first at iam.domains[0].id)"]


def test_upstream_signing_algorithm(example_data: dict[str, Any]) -> None:
    data = copy.deepcopy(example_data)
    assert parse_config(data, environ=ENV).upstream.auth.algorithm == "SDK-HMAC-SHA256"  # type: ignore[union-attr]
    data["upstream"]["auth"]["algorithm"] = "SDK-HMAC-SM3"
    assert parse_config(data, environ=ENV).upstream.auth.algorithm == "SDK-HMAC-SM3"  # type: ignore[union-attr]
    data["upstream"]["auth"]["algorithm"] = "HMAC-MD5"
    assert problems_of(data) == ["upstream.auth.algorithm: must be one of SDK-HMAC-SHA256, "
                                 "SDK-HMAC-SM3, SDK-ECDSA-P256-SHA256, SDK-SM2-SM3, V11-HMAC-SHA256"]


@pytest.mark.parametrize("document, expected", [
    ({"Version": "1.1", "Statement": [{"Effect": "Allow"}]}, []),
    ({"Statement": [{}]}, ["Version: is required"]),
    ({"Version": 1.1, "Statement": [{}]}, ['Version: expected a string (quote it: "1.1")']),
    ({"Version": "1.1", "Statement": []}, ["Statement: expected a non-empty list of statements"]),
    ({"Version": "1.1", "Statement": ["Allow"]}, ["Statement[0]: expected a mapping"]),
])
def test_basic_document_check(document: dict[str, Any], expected: list[str]) -> None:
    """The fallback used while the policies package offers no validate_document."""
    assert basic_document_problems(document) == expected
