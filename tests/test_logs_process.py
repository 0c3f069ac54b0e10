"""Issue 24 as an operator sees it: a real `ddm-gateway` process, its log files, and signals.

The access and audit lines are written off the request path; nothing may be lost on the way out
(SIGTERM, a SIGHUP reload in between) or across a rotation (rename, then SIGUSR1 or the admin
API's reopen). Every request is identified by its X-Request-Id, so the checks are exact.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from .harness import ALICE_AK, ALICE_SK, CAROL_AK, CAROL_SK, PROJECT_ID
from .stack import Reply, http
from .test_logs_support import read_records
from .test_ops_process_support import Proc, base_config, gateway, sim, write_config
from .test_ops_process_workers import _spawned_workers

LIST = f"/v1/{PROJECT_ID}/instances"
DELETE = f"/v1/{PROJECT_ID}/instances/0123456789abcdef0123456789abcdefin09"
UNTHROTTLED = 1_000_000


def _request(gw: Proc, kind: int) -> Reply:
    """Three kinds: an allowed list (200), a denied delete (403), a bad signature (401, no decision)."""
    headers = {"X-Project-Id": PROJECT_ID}
    if kind == 0:
        return http("GET", gw.url + LIST, headers=headers, ak=ALICE_AK, sk=ALICE_SK)
    if kind == 1:
        return http("DELETE", gw.url + DELETE, headers=headers, ak=CAROL_AK, sk=CAROL_SK)
    return http("GET", gw.url + LIST, headers=headers, ak=ALICE_AK, sk="not-the-secret")


def _traffic(gw: Proc, clients: int, per_client: int) -> list[Reply]:
    """`clients` threads at once, each sending `per_client` requests of every kind in turn."""
    replies: list[Reply] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        for i in range(per_client):
            reply = _request(gw, (offset + i) % 3)
            with lock:
                replies.append(reply)
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(replies) == clients * per_client
    return replies


def _ids(replies: list[Reply], statuses: tuple[int, ...]) -> Counter[str]:
    return Counter(r.headers["X-Request-Id"] for r in replies if r.status in statuses)


def _logged(path: Path) -> Counter[str]:
    return Counter(str(r["request_id"]) for r in read_records(path))


def _config(tmp: Path, upstream: Proc) -> Path:
    data = base_config(tmp, upstream.url, per_user_per_minute=UNTHROTTLED, global_per_minute=UNTHROTTLED,
                       auth_failures_per_ip_per_minute=UNTHROTTLED)
    data["reload"] = {"watch": False}
    return write_config(tmp, data)


def _stop(gw: Proc) -> None:
    gw.signal(signal.SIGTERM)
    assert gw.process.wait(timeout=30) == 0, gw.stderr()[-2000:]


class PipeReader:
    """The read end of a named pipe used as a log file: a real slow consumer. Nothing is read until
    `drain` is called, so once the pipe's buffer (64 KiB) is full the gateway's writer thread
    waits and the lines queue up in the gateway, as behind a stalled disk."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)   # lets the gateway's open() succeed
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def drain(self) -> None:
        """Reads until the gateway closes its end (at exit), on a thread."""
        os.set_blocking(self.fd, True)
        self.thread.start()

    def _read(self) -> None:
        while chunk := os.read(self.fd, 65536):
            self.data += chunk

    def lines(self) -> Counter[str]:
        self.thread.join(timeout=30)
        os.close(self.fd)
        return Counter(str(json.loads(line)["request_id"]) for line in self.data.decode().splitlines())


def test_sigterm_writes_one_access_line_per_answer_and_one_audit_line_per_decision(tmp_path: Path) -> None:
    """The access log is a pipe nobody reads until SIGTERM, so at SIGTERM most lines still wait
    in the gateway: every one must be written before it exits, and no request waited for them."""
    pipe = PipeReader(tmp_path / "access.log")
    with sim(tmp_path) as upstream, gateway(tmp_path, _config(tmp_path, upstream)) as gw:
        replies = _traffic(gw, clients=4, per_client=60)
        gw.signal(signal.SIGHUP)                       # a reload in between loses nothing either
        replies += _traffic(gw, clients=4, per_client=60)
        gw.signal(signal.SIGTERM)
        pipe.drain()
        assert gw.process.wait(timeout=60) == 0, gw.stderr()[-2000:]
    assert {r.status for r in replies} == {200, 403, 401}
    assert pipe.lines() == _ids(replies, (200, 403, 401))
    audit = read_records(tmp_path / "audit.log")
    assert Counter(str(r["request_id"]) for r in audit) == _ids(replies, (200, 403))
    assert {r["decision"] for r in audit} == {"allow", "deny"}


def test_a_full_access_queue_drops_and_counts_lines_but_answers_every_request(tmp_path: Path) -> None:
    pipe = PipeReader(tmp_path / "access.log")
    with sim(tmp_path) as upstream:
        data = yaml.safe_load(_config(tmp_path, upstream).read_text())
        data["logging"]["queue_lines"] = 4
        with gateway(tmp_path, write_config(tmp_path, data)) as gw:
            replies = _traffic(gw, clients=4, per_client=90)      # the pipe fills: the queue too
            dropped = _counter(_metrics(gw), "ddmgw_access_log_dropped_total")
            gw.signal(signal.SIGTERM)
            pipe.drain()
            assert gw.process.wait(timeout=60) == 0, gw.stderr()[-2000:]
    written = pipe.lines()
    assert dropped > 0 and sum(written.values()) + dropped == len(replies)
    assert set(written) <= set(_ids(replies, (200, 403, 401))) and max(written.values()) == 1
    audit = read_records(tmp_path / "audit.log")          # the audit log (a file) lost nothing
    assert Counter(str(r["request_id"]) for r in audit) == _ids(replies, (200, 403))


def _counter(metrics: str, name: str) -> int:
    return int(float(next(line for line in metrics.splitlines() if line.startswith(name + " ")).split()[1]))


def _metrics(gw: Proc) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{gw.admin_port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def _reopen(gw: Proc) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{gw.admin_port}/logs/reopen", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 200
        return json.load(reply)


def _wait_for_file(path: Path, gw: Proc) -> None:
    """The reopen creates the new file (O_CREAT) before any new line: poll for it, bounded."""
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} was not recreated: {gw.stderr()[-2000:]}"
        time.sleep(0.02)


def test_rotation_by_rename_then_sigusr1_or_the_admin_reopen_loses_nothing(tmp_path: Path) -> None:
    access, audit = tmp_path / "access.log", tmp_path / "audit.log"
    with sim(tmp_path) as upstream, gateway(tmp_path, _config(tmp_path, upstream)) as gw:
        assert "ddmgw_access_log_dropped_total 0" in _metrics(gw)
        first = _traffic(gw, clients=3, per_client=20)
        for path in (access, audit):                   # logrotate's `create` mode: rename, then signal
            path.rename(path.with_suffix(".log.1"))
        gw.signal(signal.SIGUSR1)
        _wait_for_file(access, gw)
        _wait_for_file(audit, gw)
        second = _traffic(gw, clients=3, per_client=20)
        for path in (access, audit):
            path.rename(path.with_suffix(".log.2"))
        assert _reopen(gw) == {"status": "reopened", "logs": {"access": "reopened", "audit": "reopened"}}
        third = _traffic(gw, clients=3, per_client=20)
        _stop(gw)
    for suffix, replies in ((".log.1", first), (".log.2", second), (".log", third)):
        assert _logged(access.with_suffix(suffix)) == _ids(replies, (200, 403, 401)), suffix
        assert _logged(audit.with_suffix(suffix)) == _ids(replies, (200, 403)), suffix


def _open_logs(pid: int) -> set[str]:
    """The log files a process holds open, by the path each descriptor now has (a renamed file
    shows its new name)."""
    paths = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if ".log" in target:
            paths.add(Path(target).name)
    return paths


def _wait_for_open_logs(pids: list[int], names: set[str]) -> None:
    deadline = time.monotonic() + 20
    while not all(_open_logs(pid) == names for pid in pids):
        assert time.monotonic() < deadline, [_open_logs(pid) for pid in pids]
        time.sleep(0.02)


def test_sigusr1_or_the_admin_reopen_of_the_parent_reopens_the_logs_of_every_worker(tmp_path: Path, redis_url: str) -> None:
    with sim(tmp_path) as upstream:
        data = yaml.safe_load(_config(tmp_path, upstream).read_text())
        data["store"] = {"url": redis_url, "on_failure": "open"}
        with gateway(tmp_path, write_config(tmp_path, data), "--workers", "2") as gw:
            workers = _spawned_workers(gw.process.pid)
            assert len(workers) == 2
            _wait_for_open_logs(workers, {"access.log", "audit.log"})    # both workers started
            first = _traffic(gw, clients=2, per_client=15)
            for name in ("access.log", "audit.log"):
                (tmp_path / name).rename(tmp_path / f"{name}.1")
            assert [_open_logs(pid) for pid in workers] == [{"access.log.1", "audit.log.1"}] * 2
            gw.signal(signal.SIGUSR1)
            _wait_for_open_logs(workers, {"access.log", "audit.log"})
            second = _traffic(gw, clients=2, per_client=15)
            for name in ("access.log", "audit.log"):          # then by the parent's admin API
                (tmp_path / name).rename(tmp_path / f"{name}.2")
            reopened = {"status": "reopened", "logs": {"access": "reopened", "audit": "reopened"}}
            assert _reopen(gw) == {"status": "reopened", "workers": {"worker-0": reopened, "worker-1": reopened}}
            assert [_open_logs(pid) for pid in workers] == [{"access.log", "audit.log"}] * 2
            third = _traffic(gw, clients=2, per_client=15)
            _stop(gw)
    for suffix, replies in ((".log.1", first), (".log.2", second), (".log", third)):
        assert _logged(tmp_path / f"access{suffix}") == _ids(replies, (200, 403, 401)), suffix
        assert _logged(tmp_path / f"audit{suffix}") == _ids(replies, (200, 403)), suffix
