"""docker-compose.yml and the Dockerfile stay consistent with the CLI and the config, even where no
Docker engine runs: every command they name parses, the mounted config passes `config check` with
the environment compose sets, and hosts/ports/keys line up between services."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.cli import build_parser
from gateway.config import load_config

from .test_ops_process_support import CLI

ROOT = Path(__file__).resolve().parent.parent
GATEWAYS = ("gateway-a", "gateway-b")


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _exec_form(instruction: str) -> list[str]:
    values = [yaml.safe_load(rest) for word, rest in _dockerfile() if word == instruction]
    assert len(values) == 1 and isinstance(values[0], list), f"one exec-form {instruction}"
    return values[0]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _mounted_config(service: dict[str, Any]) -> tuple[Path, str]:
    """The host file mounted as the config the service's command names."""
    args = build_parser().parse_args([*_exec_form("ENTRYPOINT")[1:], *service["command"]])
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if target == args.config:
            return ROOT / source, target
    raise AssertionError(f"{args.config} is not mounted")


def test_services_and_entrypoint(compose: dict[str, Any]) -> None:
    assert {"redis", "ddmsim", *GATEWAYS} <= set(compose["services"])
    assert _exec_form("ENTRYPOINT") == ["ddm-gateway", "serve"]
    assert compose["services"]["ddmsim"]["entrypoint"] == ["ddm-gateway"]
    # The console script the image installs (pip install .) is the one pyproject declares.
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["ddm-gateway"] == "gateway.cli:main"


@pytest.mark.parametrize("name", GATEWAYS)
def test_gateway_command_parses_and_its_config_passes_check(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    source, _ = _mounted_config(service)
    env = {k: str(v) for k, v in service.get("environment", {}).items()}
    result = subprocess.run([CLI, "config", "check", str(source)], capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_cmd_is_a_valid_serve_command() -> None:
    args = build_parser().parse_args([*_exec_form("ENTRYPOINT")[1:], *_exec_form("CMD")])
    assert args.command == "serve" and args.config


def test_sim_command_parses_and_matches_the_upstream(compose: dict[str, Any]) -> None:
    sim = build_parser().parse_args(compose["services"]["ddmsim"]["command"])
    assert sim.command == "sim" and sim.host == "0.0.0.0"
    for name in GATEWAYS:
        service = compose["services"][name]
        source, _ = _mounted_config(service)
        config = load_config(source, environ={k: str(v) for k, v in service["environment"].items()})
        upstream = urlsplit(config.upstream.url)
        assert (upstream.hostname, upstream.port) == ("ddmsim", sim.port)
        assert sim.require_aksk == f"{config.upstream.auth.ak}:{config.upstream.auth.sk}"
        assert urlsplit(config.store.url).hostname == "redis"
        assert set(service["depends_on"]) >= {"redis", "ddmsim"}


def test_ports_line_up(compose: dict[str, Any]) -> None:
    exposed = {int(p) for word, rest in _dockerfile() if word == "EXPOSE" for p in rest.split()}
    published = []
    for name in GATEWAYS:
        service = compose["services"][name]
        source, _ = _mounted_config(service)
        config = load_config(source, environ={k: str(v) for k, v in service["environment"].items()})
        assert config.listen.host == config.admin.host == "0.0.0.0"
        assert {config.listen.port, config.admin.port} <= exposed
        for mapping in service["ports"]:
            host, container = str(mapping).split(":")
            assert int(container) == config.listen.port
            published.append(int(host))
    assert len(set(published)) == len(published), "two replicas cannot publish the same host port"


def test_healthcheck_probes_the_admin_healthz() -> None:
    config = load_config(ROOT / "deploy" / "gateway.compose.yaml", environ={"DDMGW_UPSTREAM_SK": "x"})
    check = next(rest for word, rest in _dockerfile() if word == "HEALTHCHECK")
    assert f"http://127.0.0.1:{config.admin.port}/healthz" in check
    command = shlex.split(check.split(" CMD ", 1)[1])
    assert command[0] == "python"
    compile(command[2], "<healthcheck>", "exec")     # the -c program is valid Python


def test_dockerfile_copies_existing_paths() -> None:
    for word, rest in _dockerfile():
        if word == "COPY":
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source


def test_the_state_volume_target_exists_in_the_image(compose: dict[str, Any]) -> None:
    """A named volume copies ownership from the image path; missing, it is root's and the
    non-root gateway could not write its token signing key."""
    runs = " ".join(rest for word, rest in _dockerfile() if word == "RUN")
    for name in GATEWAYS:
        service = compose["services"][name]
        source, _ = _mounted_config(service)
        config = load_config(source, environ={k: str(v) for k, v in service["environment"].items()})
        targets = [v.split(":")[1] for v in service["volumes"] if not v.startswith(".")]
        assert str(config.state_dir) in targets
        assert f"mkdir -p {config.state_dir}" in runs


def test_the_simulator_overrides_the_gateway_healthcheck(compose: dict[str, Any]) -> None:
    sim = compose["services"]["ddmsim"]
    probe = sim["healthcheck"]["test"]
    assert probe[:3] == ["CMD", "python", "-c"]
    compile(probe[3], "<healthcheck>", "exec")
    port = build_parser().parse_args(sim["command"]).port
    assert f"127.0.0.1:{port}/_sim/routes" in probe[3]
