"""`serve --workers N`: N processes on one port sharing the Redis limits; the in-process store
with N > 1 is refused (each worker would grant the full limit) unless explicitly allowed."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from .harness import ALICE_AK, ALICE_SK, CAROL_AK, CAROL_SK, PROJECT_ID
from .stack import http
from .test_ops_process_support import CLI, base_config, gateway, sim, write_config


def _children(pid: int) -> list[int]:
    """Live child pids of `pid`, read from /proc (no extra dependency)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _spawned_workers(pid: int) -> list[int]:
    """The worker processes: multiprocessing's spawn also starts a resource tracker child."""
    return [c for c in _children(pid)
            if "multiprocessing.resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]


def test_two_workers_share_the_redis_limits(tmp_path: Path, redis_url: str) -> None:
    with sim(tmp_path) as upstream:
        path = write_config(tmp_path, base_config(tmp_path, upstream.url, store_url=redis_url,
                                                  per_user_per_minute=10))
        with gateway(tmp_path, path, "--workers", "2") as gw:
            assert len(_spawned_workers(gw.process.pid)) == 2
            url = f"{gw.url}/v1/{PROJECT_ID}/instances"
            # A fresh connection per request: the kernel spreads them over both workers.
            statuses = [http("GET", url, headers={"X-Project-Id": PROJECT_ID}, ak=ALICE_AK, sk=ALICE_SK).status
                        for _ in range(30)]
            assert statuses.count(200) == 10, statuses
            assert statuses.count(429) == 20, statuses
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=20) == 0


def test_sighup_reaches_every_worker(tmp_path: Path, redis_url: str) -> None:
    with sim(tmp_path) as upstream:
        data = base_config(tmp_path, upstream.url, store_url=redis_url)
        path = write_config(tmp_path, data)
        with gateway(tmp_path, path, "--workers", "2") as gw:
            url = f"{gw.url}/v1/{PROJECT_ID}/instances"

            def carol() -> int:
                return http("GET", url, headers={"X-Project-Id": PROJECT_ID}, ak=CAROL_AK, sk=CAROL_SK).status
            assert carol() == 200
            data["iam"]["domains"][0]["policies"][0]["document"]["Statement"][0]["Action"] = ["ddm:instance:list"]
            write_config(tmp_path, data)
            gw.signal(signal.SIGHUP)
            deadline = time.monotonic() + 15
            while gw.stderr().count("config reloaded from") < 2:   # one line per worker
                assert time.monotonic() < deadline, gw.stderr()
                time.sleep(0.05)
            assert [carol() for _ in range(6)] == [403] * 6
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=20) == 0


def test_workers_with_the_in_process_store_are_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path, "http://127.0.0.1:9"))
    result = subprocess.run([CLI, "serve", "--config", str(path), "--workers", "2"],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 2
    assert "--allow-per-worker-limits" in result.stderr
    assert "store.url" in result.stderr


def test_workers_without_an_upstream_are_refused(tmp_path: Path) -> None:
    data = base_config(tmp_path, "http://127.0.0.1:9")
    del data["upstream"]
    result = subprocess.run([CLI, "serve", "--config", str(write_config(tmp_path, data)), "--workers", "2",
                             "--allow-per-worker-limits"], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 2
    assert "upstream" in result.stderr


def test_per_worker_limits_start_when_explicitly_allowed(tmp_path: Path) -> None:
    with sim(tmp_path) as upstream:
        path = write_config(tmp_path, base_config(tmp_path, upstream.url))
        with gateway(tmp_path, path, "--workers", "2", "--allow-per-worker-limits") as gw:
            reply = http("GET", f"{gw.url}/v1/{PROJECT_ID}/instances", headers={"X-Project-Id": PROJECT_ID},
                         ak=ALICE_AK, sk=ALICE_SK)
            assert reply.status == 200
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=20) == 0
