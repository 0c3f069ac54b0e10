"""`serve --workers 2` as Prometheus and an operator see it: the parent owns the admin port, its
/metrics adds up both workers and never goes backwards across scrapes, and a worker that is
killed is restarted (logged) without its counts disappearing."""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

from .harness import ALICE_AK, ALICE_SK, PROJECT_ID
from .stack import http
from .test_ops_process_support import Proc, base_config, gateway, sim, write_config
from .test_ops_process_workers import _spawned_workers

URL_PATH = f"/v1/{PROJECT_ID}/instances"
REQUESTS = re.compile(r'^ddmgw_requests_total\{action="ddm:instance:list",status="200"\} (\d+)$', re.M)


def _served(proc: Proc) -> int:
    """The 200s the gateway's /metrics reports for ListInstances (an exact integer)."""
    text = http("GET", f"http://127.0.0.1:{proc.admin_port}/metrics").body.decode()
    match = REQUESTS.search(text)
    return int(match.group(1)) if match else 0


def _call(proc: Proc) -> int:
    return http("GET", proc.url + URL_PATH, headers={"X-Project-Id": PROJECT_ID}, ak=ALICE_AK, sk=ALICE_SK).status


def _wait_until(condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_metrics_add_up_across_workers_and_survive_a_killed_worker(tmp_path: Path, redis_url: str) -> None:
    with sim(tmp_path) as upstream:
        path = write_config(tmp_path, base_config(tmp_path, upstream.url, store_url=redis_url,
                                                  per_user_per_minute=1000))
        with gateway(tmp_path, path, "--workers", "2") as gw:
            _wait_until(lambda: http("GET", f"http://127.0.0.1:{gw.admin_port}/readyz").status == 200)
            scrapes: list[int] = []
            done = threading.Event()

            def scrape() -> None:
                while not done.is_set():
                    scrapes.append(_served(gw))
            scraper = threading.Thread(target=scrape, daemon=True)
            scraper.start()
            # A fresh connection per request: the kernel spreads them over both workers.
            assert [_call(gw) for _ in range(20)] == [200] * 20
            done.set()
            scraper.join(timeout=10)
            assert len(scrapes) > 3
            assert scrapes == sorted(scrapes), scrapes       # never backwards between scrapes
            assert _served(gw) == 20                          # both workers, added up exactly

            first, second = sorted(_spawned_workers(gw.process.pid))
            os.kill(second, signal.SIGKILL)
            _wait_until(lambda: "worker-" in gw.stderr() and "restarted (pid" in gw.stderr())
            _wait_until(lambda: len(_spawned_workers(gw.process.pid)) == 2)
            assert second not in _spawned_workers(gw.process.pid)
            assert "exited with code -9; restarting in" in gw.stderr()
            assert _served(gw) == 20                          # the dead worker's counts stay counted
            _wait_until(lambda: http("GET", f"http://127.0.0.1:{gw.admin_port}/readyz").status == 200)
            assert [_call(gw) for _ in range(10)] == [200] * 10
            assert _served(gw) == 30
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=30) == 0
