"""Helpers for the process tests: `ddm-gateway` subprocesses on free loopback ports, always killed.

No tests here; the name only keeps the file inside the process tests' namespace.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from .conftest import free_port, wait_for_port
from .harness import config_data

CLI = str(Path(sys.executable).with_name("ddm-gateway"))


@dataclass
class Proc:
    """A running `ddm-gateway` subprocess with its output in files (pipes could fill and block)."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    port: int = 0
    admin_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def spawn(tmp: Path, name: str, *args: str, port: int = 0, admin_port: int = 0) -> Iterator[Proc]:
    """Runs `ddm-gateway ARGS` and kills it (process group included) on exit, whatever happened."""
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    with open(out, "wb") as out_f, open(err, "wb") as err_f:
        process = subprocess.Popen([CLI, *args], stdout=out_f, stderr=err_f, cwd=tmp,
                                   start_new_session=True)
    proc = Proc(process, out, err, port, admin_port)
    try:
        yield proc
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def sim(tmp: Path) -> Iterator[Proc]:
    """`ddm-gateway sim --job-seconds 0` on a free port."""
    port = free_port()
    with spawn(tmp, f"sim-{port}", "sim", "--port", str(port), "--job-seconds", "0", port=port) as proc:
        wait_for_port(port)
        yield proc


def write_config(tmp: Path, data: dict[str, Any], name: str = "gateway.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def base_config(tmp: Path, sim_url: str, **kw: Any) -> dict[str, Any]:
    """harness.config_data with its logs in `tmp`; a deep copy, since tests edit it for reloads and
    config_data shares the module-level identity dicts."""
    data = copy.deepcopy(config_data(state_dir=str(tmp / "state"), upstream_url=sim_url, **kw))
    data["logging"] = {"access_log": str(tmp / "access.log"), "audit_log": str(tmp / "audit.log")}
    return data


@contextlib.contextmanager
def gateway(tmp: Path, config: Path, *extra: str, name: str = "gw") -> Iterator[Proc]:
    """`ddm-gateway serve --config CONFIG --port P --admin-port A EXTRA`, ready when both listen."""
    port, admin_port = free_port(), free_port()
    args = ["serve", "--config", str(config), "--port", str(port), "--admin-port", str(admin_port), *extra]
    with spawn(tmp, name, *args, port=port, admin_port=admin_port) as proc:
        wait_for_port(port, timeout_s=20)
        wait_for_port(admin_port, timeout_s=20)
        yield proc


def post_json(url: str, payload: Any) -> int:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)
