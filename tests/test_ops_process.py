"""Issue #9 as an operator sees it: real `ddm-gateway` processes, signals, and their exit codes.

SIGHUP reloads policies atomically (a broken file is refused while traffic continues); SIGTERM
lets an in-flight slow upstream request finish before exiting 0.
"""
from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

from .harness import ALICE_AK, ALICE_SK, CAROL_AK, CAROL_SK, PROJECT_ID
from .stack import Reply, http
from .test_ops_process_support import Proc, base_config, gateway, post_json, sim, write_config

LIST_PATH = f"/v1/{PROJECT_ID}/instances"


def _get(proc: Proc, ak: str, sk: str) -> Reply:
    return http("GET", proc.url + LIST_PATH, headers={"X-Project-Id": PROJECT_ID}, ak=ak, sk=sk)


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Signals are delivered asynchronously: poll for their effect (bounded, never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Traffic(threading.Thread):
    """Alice lists instances in a loop; every status is kept so a dropped request shows up."""

    def __init__(self, proc: Proc) -> None:
        super().__init__(daemon=True)
        self.proc, self.statuses, self.errors = proc, [], []  # type: ignore[var-annotated]
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.statuses.append(_get(self.proc, ALICE_AK, ALICE_SK).status)
            except OSError as err:  # a refused/reset connection is exactly what must not happen
                self.errors.append(repr(err))


def test_sighup_applies_a_policy_change_and_refuses_a_broken_config(tmp_path: Path) -> None:
    with sim(tmp_path) as upstream:
        data = base_config(tmp_path, upstream.url)
        data["reload"] = {"watch": False}   # only the signal may reload here
        path = write_config(tmp_path, data)
        with gateway(tmp_path, path) as gw:
            assert _get(gw, CAROL_AK, CAROL_SK).status == 200
            traffic = Traffic(gw)
            traffic.start()
            try:
                # carol's group carries `no-instance-delete`; make it deny listing too.
                data["iam"]["domains"][0]["policies"][0]["document"]["Statement"][0]["Action"] = [
                    "ddm:instance:delete", "ddm:instance:list"]
                write_config(tmp_path, data)
                gw.signal(signal.SIGHUP)
                _wait_until(lambda: _get(gw, CAROL_AK, CAROL_SK).status == 403)
                assert _get(gw, CAROL_AK, CAROL_SK).status == 403   # and it stays in force

                broken = json.loads(json.dumps(data))
                broken["limits"]["per_user_per_minute"] = "many"
                broken["iam"]["domains"][0]["users"][0]["groups"] = ["no-such-group"]
                write_config(tmp_path, broken)
                gw.signal(signal.SIGHUP)
                _wait_until(lambda: "config reload refused" in gw.stderr())
                assert "limits.per_user_per_minute" in gw.stderr()
                assert "no-such-group" in gw.stderr()
                assert _get(gw, CAROL_AK, CAROL_SK).status == 403   # the previous config stays
                assert _get(gw, ALICE_AK, ALICE_SK).status == 200
            finally:
                traffic.stop.set()
                traffic.join(timeout=30)
            assert traffic.errors == []
            assert traffic.statuses and set(traffic.statuses) == {200}
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=15) == 0


def test_a_changed_config_file_is_reloaded_without_a_signal(tmp_path: Path) -> None:
    with sim(tmp_path) as upstream:
        data = base_config(tmp_path, upstream.url)
        data["reload"] = {"watch": True, "interval_s": 0.1}
        path = write_config(tmp_path, data)
        with gateway(tmp_path, path) as gw:
            assert _get(gw, CAROL_AK, CAROL_SK).status == 200
            data["iam"]["domains"][0]["policies"][0]["document"]["Statement"][0]["Action"] = [
                "ddm:instance:delete", "ddm:instance:list"]
            write_config(tmp_path, data)
            _wait_until(lambda: _get(gw, CAROL_AK, CAROL_SK).status == 403)
            assert "config reloaded from" in gw.stderr()
            broken = json.loads(json.dumps(data))
            broken["limits"]["per_user_per_minute"] = "many"
            write_config(tmp_path, broken)
            _wait_until(lambda: "config reload refused" in gw.stderr())
            assert _get(gw, CAROL_AK, CAROL_SK).status == 403   # the previous config stays
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=15) == 0


def _sim_saw(upstream: Proc, path: str) -> bool:
    with urllib.request.urlopen(upstream.url + "/_sim/requests", timeout=5) as response:
        return any(path in json.dumps(r) for r in json.load(response)["requests"])


def _refuses_connections(port: int) -> bool:
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def test_sigterm_lets_a_slow_in_flight_request_finish_and_exits_0(tmp_path: Path) -> None:
    with sim(tmp_path) as upstream:
        post_json(upstream.url + "/_sim/faults", {"method": "GET", "path": "/v1/*/instances", "delay_s": 5})
        data = base_config(tmp_path, upstream.url)
        data["upstream"]["timeout_s"] = 30      # the harness's 5 s would turn the slow reply into a 504
        path = write_config(tmp_path, data)
        with gateway(tmp_path, path) as gw:
            replies: list[Reply] = []
            client = threading.Thread(target=lambda: replies.append(_get(gw, ALICE_AK, ALICE_SK)))
            client.start()
            _wait_until(lambda: _sim_saw(upstream, LIST_PATH))
            gw.signal(signal.SIGTERM)
            # Stops accepting at once (well before the 5 s upstream delay is over)...
            _wait_until(lambda: _refuses_connections(gw.port), timeout_s=3)
            assert client.is_alive(), "the in-flight request must still be running"
            client.join(timeout=20)
            # ...yet the request that was running gets its real response, then a clean exit.
            assert [r.status for r in replies] == [200]
            assert "instances" in replies[0].json()
            assert gw.process.wait(timeout=15) == 0


def test_the_shutdown_grace_is_bounded_by_the_flag(tmp_path: Path) -> None:
    with sim(tmp_path) as upstream:
        post_json(upstream.url + "/_sim/faults", {"method": "GET", "path": "/v1/*/instances", "delay_s": 30})
        path = write_config(tmp_path, base_config(tmp_path, upstream.url))
        with gateway(tmp_path, path, "--shutdown-grace-s", "0.5") as gw:
            outcome: list[object] = []

            def call() -> None:
                try:
                    outcome.append(_get(gw, ALICE_AK, ALICE_SK).status)
                except OSError as err:
                    outcome.append(err)
            client = threading.Thread(target=call, daemon=True)
            client.start()
            _wait_until(lambda: _sim_saw(upstream, LIST_PATH))
            started = time.monotonic()
            gw.signal(signal.SIGTERM)
            assert gw.process.wait(timeout=15) == 0
            # 0.5 s grace + pool/loop teardown; far below the 30 s the upstream would take.
            assert time.monotonic() - started < 10
            client.join(timeout=10)
            assert outcome and outcome[0] != 200
