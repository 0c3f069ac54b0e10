"""The built-in demo config: parsed by the same loader, fixed documented credentials."""
from __future__ import annotations

from pathlib import Path

from gateway.config import DEMO_CONFIG_PATH, demo_config, demo_credentials, load_config


def test_demo_loads_with_documented_shape() -> None:
    config = demo_config()
    assert config.upstream is None and config.store is None
    assert (config.listen.host, config.listen.port) == ("127.0.0.1", 8080)
    assert (config.admin.host, config.admin.port) == ("127.0.0.1", 8081)
    domain, = config.iam.domains
    assert domain.name == "demo" and len(domain.id) == 32
    project, = domain.projects
    assert project.name == config.region and len(project.id) == 32
    grants = {g.name: [grant.policy for grant in g.grants] for g in domain.groups}
    assert grants == {"dba": ["DDM FullAccess"], "readers": ["DDM ReadOnlyAccess"]}
    users = {u.name: u for u in domain.users}
    assert users["alice"].groups == ("dba",) and users["bob"].groups == ("readers",)
    assert all(len(u.access_keys) == 1 for u in users.values())


def test_demo_passwords_match() -> None:
    domain, = demo_config().iam.domains
    users = {u.name: u for u in domain.users}
    assert domain.password is not None and domain.password.matches("demo-owner-pass")
    assert users["alice"].password is not None and users["alice"].password.matches("alice-demo-pass")
    assert users["bob"].password is not None and users["bob"].password.matches("bob-demo-pass")


def test_demo_state_dir_override(tmp_path: Path) -> None:
    assert demo_config(state_dir=tmp_path).state_dir == tmp_path
    assert demo_config().state_dir == Path(".ddm-gateway")


def test_demo_file_is_a_valid_config_file() -> None:
    assert load_config(DEMO_CONFIG_PATH, environ={}) == demo_config()


def test_demo_credentials_lines_name_every_login() -> None:
    lines = "\n".join(demo_credentials(demo_config()))
    for expected in ("user=demo password=demo-owner-pass", "alice", "bob",
                     "ak=DEMOALICEAK000000001", "ak=DEMOBOBAK00000000001"):
        assert expected in lines
