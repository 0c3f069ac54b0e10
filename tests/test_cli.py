"""The CLI as a user runs it: `serve` without a config (the demo), `curl` with the credentials the
demo prints, `sim`. (`config check`, `policy`, `hash-password`: test_config_commands/test_policy_cli.)"""
from __future__ import annotations

import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import free_port, wait_for_port
from .harness import PROJECT_ID
from .test_ops_process_support import CLI, Proc, gateway, spawn


def _banner(proc: Proc, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while "try:" not in proc.stdout() or not proc.stdout().rstrip().endswith("/instances"):
        assert proc.process.poll() is None, proc.stderr()
        assert time.monotonic() < deadline, proc.stdout()
        time.sleep(0.05)
    return proc.stdout()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, str]]:
    tmp = tmp_path_factory.mktemp("demo")
    port, admin_port = free_port(), free_port()
    with spawn(tmp, "demo", "serve", "--port", str(port), "--admin-port", str(admin_port),
               port=port, admin_port=admin_port) as proc:
        banner = _banner(proc)
        wait_for_port(port)
        yield proc, banner


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)


def test_demo_prints_its_credentials_and_where_it_listens(demo: tuple[Proc, str]) -> None:
    proc, banner = demo
    assert f"http://127.0.0.1:{proc.port}" in banner
    assert re.search(r"ak=\S+ sk=\S+", banner)


def test_the_printed_curl_command_returns_200(demo: tuple[Proc, str]) -> None:
    _, banner = demo
    command = shlex.split(banner.rstrip().splitlines()[-1])
    assert command[:2] == ["ddm-gateway", "curl"]
    result = _run(*command[1:], "-i")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("HTTP 200")
    assert '"instances"' in result.stdout


def test_curl_with_a_wrong_secret_exits_22(demo: tuple[Proc, str]) -> None:
    _, banner = demo
    command = shlex.split(banner.rstrip().splitlines()[-1])
    wrong = [("wrong-secret" if previous == "--sk" else arg) for previous, arg in zip([""] + command, command)]
    result = _run(*wrong[1:])
    assert result.returncode == 22
    assert "APIGW.0301" in result.stdout


def test_curl_usage_errors(demo: tuple[Proc, str]) -> None:
    proc, _ = demo
    missing = _run("curl", f"{proc.url}/v1/x/instances")
    assert missing.returncode != 0 and "--ak" in missing.stderr
    refused = _run("curl", "--ak", "A", "--sk", "B", f"http://127.0.0.1:{free_port()}/")
    assert refused.returncode == 7


def test_sigterm_stops_the_demo_cleanly(tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    with spawn(tmp_path, "demo", "serve", "--port", str(port), "--admin-port", str(admin_port)) as proc:
        _banner(proc)
        wait_for_port(port)
        proc.signal(signal.SIGTERM)
        assert proc.process.wait(timeout=20) == 0


def test_sim_serves_on_the_given_port(tmp_path: Path) -> None:
    port = free_port()
    with spawn(tmp_path, "sim", "sim", "--port", str(port), "--job-seconds", "0") as proc:
        wait_for_port(port)
        assert f"http://127.0.0.1:{port}" in proc.stdout()
        # The simulator without --require-* accepts anything: an unsigned listing works.
        result = _run("curl", "--token", "anything", "-H", f"X-Project-Id: {PROJECT_ID}",
                      f"http://127.0.0.1:{port}/v1/{PROJECT_ID}/instances")
        assert result.returncode == 0, result.stdout + result.stderr


def test_sim_rejects_a_malformed_key_pair() -> None:
    result = _run("sim", "--require-aksk", "no-colon")
    assert result.returncode == 2 and "AK:SK" in result.stderr


def test_serve_with_a_broken_config_exits_2_with_paths(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("listen: {port: nope}\n")
    result = _run("serve", "--config", str(path))
    assert result.returncode == 2
    assert "listen.port" in result.stderr


def test_port_overrides_apply_to_a_config_file(tmp_path: Path) -> None:
    """`--port/--admin-port` replace the file's ports (the process tests rely on it)."""
    from .test_ops_process_support import base_config, write_config
    path = write_config(tmp_path, base_config(tmp_path, "http://127.0.0.1:9"))
    with gateway(tmp_path, path) as gw:
        assert gw.port not in (8080, 8081) and gw.admin_port not in (8080, 8081)
