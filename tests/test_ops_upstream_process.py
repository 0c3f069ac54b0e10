"""Upstream admission, shutdown and readiness as an operator sees them: real `ddm-gateway` and
simulator processes. A slow DDM operation fills only its share of the upstream connections (a
fast one still gets through, and without the share it would not); SIGTERM with requests
outlasting the grace cancels them and exits 0; /readyz notices DDM going away."""
from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from .harness import ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, PROJECT_ID
from .stack import Reply, http
from .test_ops_process_support import Proc, base_config, gateway, post_json, sim, write_config

SLOW_PATH = f"/v1/{PROJECT_ID}/instances"      # ListInstances
FAST_PATH = f"/v2/{PROJECT_ID}/engines"         # ListEngines: another operation


def _call(proc: Proc, path: str, ak: str = ALICE_AK, sk: str = ALICE_SK) -> Reply:
    return http("GET", proc.url + path, headers={"X-Project-Id": PROJECT_ID}, ak=ak, sk=sk)


def _sim_count(upstream: Proc, path: str) -> int:
    with urllib.request.urlopen(upstream.url + "/_sim/requests", timeout=5) as response:
        return sum(1 for r in json.load(response)["requests"] if r["path"] == path)


def _wait_until(condition: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Caller(threading.Thread):
    """One request in the background; its outcome (a status or the connection error) is kept."""

    def __init__(self, proc: Proc, path: str, ak: str = ALICE_AK, sk: str = ALICE_SK) -> None:
        super().__init__(daemon=True)
        self.proc, self.path, self.ak, self.sk = proc, path, ak, sk
        self.outcome: object = None

    def run(self) -> None:
        try:
            self.outcome = _call(self.proc, self.path, self.ak, self.sk).status
        except OSError as err:
            self.outcome = err


def _slow_route_config(tmp_path: Path, upstream: Proc, **pool: Any) -> Path:
    data = base_config(tmp_path, upstream.url)
    data["upstream"].update({"timeout_s": 60, "max_connections": 4, "max_pending": 32, **pool})
    return write_config(tmp_path, data, name=f"gw-{len(pool)}-{pool.get('max_connections_per_route')}.yaml")


def _fast_call_while_slow_route_is_full(tmp_path: Path, **pool: Any) -> tuple[int, float, list[Caller]]:
    with sim(tmp_path) as upstream:
        post_json(upstream.url + "/_sim/faults", {"method": "GET", "path": "/v1/*/instances", "delay_s": 30})
        with gateway(tmp_path, _slow_route_config(tmp_path, upstream, **pool), name=f"gw-{len(pool)}") as gw:
            slow = [Caller(gw, SLOW_PATH) for _ in range(6)]
            for caller in slow:
                caller.start()
            share = pool.get("max_connections_per_route", 3)
            _wait_until(lambda: _sim_count(upstream, SLOW_PATH) >= share)
            started = time.monotonic()
            fast = _call(gw, FAST_PATH, BOB_AK, BOB_SK)
            elapsed = time.monotonic() - started
            # those holding a connection still run (queued ones may have met their pool wait)
            assert sum(caller.is_alive() for caller in slow) >= share
            assert _sim_count(upstream, SLOW_PATH) == share   # the others queue in the gateway
            gw.process.kill()
            return fast.status, elapsed, slow


def test_a_slow_operation_fills_only_its_share_of_the_connections(tmp_path: Path) -> None:
    """max_connections 4, the default share 3: three slow calls hold three connections, three
    more queue, and ListEngines takes the fourth at once."""
    status, elapsed, _ = _fast_call_while_slow_route_is_full(tmp_path)
    print(f"fast call beside a full slow route, with the share: {status} in {elapsed:.3f} s")
    assert status == 200


def test_without_a_share_the_fast_operation_waits_and_gets_a_503(tmp_path: Path) -> None:
    """The same run with the share at the total: the slow route holds every connection and the
    fast call, queued behind it, is refused when its pool wait ends (not a late 504)."""
    status, elapsed, _ = _fast_call_while_slow_route_is_full(tmp_path, max_connections_per_route=4,
                                                            pool_timeout_s=0.5)
    print(f"fast call beside a full slow route, without a share: {status} in {elapsed:.3f} s")
    assert status == 503


def test_sigterm_cancels_requests_outlasting_the_grace_and_exits_0(tmp_path: Path) -> None:
    """Grace 1 s: a call that ends inside it gets its answer; three that would take 30 s see
    their connection close; the process exits 0 without waiting for them."""
    with sim(tmp_path) as upstream:
        post_json(upstream.url + "/_sim/faults", {"method": "GET", "path": "/v1/*/instances", "delay_s": 30})
        post_json(upstream.url + "/_sim/faults", {"method": "GET", "path": "/v2/*/engines", "delay_s": 0.5})
        data = base_config(tmp_path, upstream.url)
        data["upstream"]["timeout_s"] = 60
        with gateway(tmp_path, write_config(tmp_path, data), "--shutdown-grace-s", "1") as gw:
            slow = [Caller(gw, SLOW_PATH) for _ in range(3)]
            for caller in slow:
                caller.start()
            _wait_until(lambda: _sim_count(upstream, SLOW_PATH) == 3)
            short = Caller(gw, FAST_PATH, BOB_AK, BOB_SK)
            short.start()
            _wait_until(lambda: _sim_count(upstream, FAST_PATH) == 1)
            started = time.monotonic()
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=20) == 0
            elapsed = time.monotonic() - started
            print(f"SIGTERM with grace 1 s: exited 0 after {elapsed:.2f} s")
            for caller in (*slow, short):
                caller.join(timeout=10)
                assert not caller.is_alive(), "a client was left hanging"
            assert short.outcome == 200
            assert all(isinstance(caller.outcome, OSError) for caller in slow), [c.outcome for c in slow]
            assert "cancelling 3 in-flight requests" in gw.stderr()


def test_readyz_asks_the_upstream_itself(tmp_path: Path) -> None:
    """A gateway whose DDM is gone says so on /readyz (503, upstream down) once the cached
    verdict expires, while the store and config checks stay fine."""
    with sim(tmp_path) as upstream:
        data = base_config(tmp_path, upstream.url)
        with gateway(tmp_path, write_config(tmp_path, data)) as gw:
            ready = f"http://127.0.0.1:{gw.admin_port}/readyz"
            assert http("GET", ready).status == 200
            upstream.process.kill()
            upstream.process.wait(timeout=10)
            _wait_until(lambda: http("GET", ready).status == 503)
            checks = http("GET", ready).json()["checks"]
            assert (checks["upstream"], checks["store"], checks["config"]) == ("down", "ok", "loaded")
            assert "upstream readiness probe failed" in gw.stderr()
