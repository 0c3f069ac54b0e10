"""The log writer (gateway/observability/writer.py) over real files and real pipes.

A pipe nobody reads is a stalled disk: once its 64 KiB buffer is full the writer thread waits,
and what the queue does then is the behaviour under test. No timing asserts: the tests wait for
states (bounded), never for durations.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import ConfigError, parse_config
from gateway.observability.logs import FRAGMENT_CACHED_CHARS, FRAGMENTS_CACHED, LineFormat
from gateway.observability.metrics import Counter
from gateway.observability.writer import ENCODER, FileTarget, LogPump, StreamTarget
from gateway.principal import Principal

from .harness import config_data

LINE = {"request_id": "", "path": "/v1/" + "x" * 200}


def _records(count: int, start: int = 0) -> list[dict[str, object]]:
    return [{**LINE, "request_id": f"r{i}"} for i in range(start, start + count)]


def _ids(text: str) -> list[str]:
    return [json.loads(line)["request_id"] for line in text.splitlines()]


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


class Pipe:
    """A pipe whose write end is a StreamTarget; read only once `drain` is called."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "rb")
        self.target = StreamTarget(os.fdopen(write_fd, "w", encoding="ascii"))
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def drain(self) -> None:
        self.thread.start()

    def _read(self) -> None:
        while chunk := self.reader.read1(65536):
            self.data += chunk

    def close(self) -> str:
        self.target.stream.close()
        self.thread.join(timeout=20)
        return self.data.decode()


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    pipe = Pipe()
    yield pipe
    pipe.reader.close()


def test_lines_are_written_in_order_and_close_writes_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    pump = LogPump()
    writer = pump.add(FileTarget(path), name="access", drop_when_full=True, full=Counter("d", ""))

    async def traffic() -> None:
        for chunk in range(5):
            for record in _records(100, chunk * 100):
                writer.write(record)
            await asyncio.sleep(0)                 # the thread may take a batch between two ticks
    asyncio.run(traffic())
    pump.close()
    assert _ids(path.read_text()) == [f"r{i}" for i in range(500)]


def test_a_stalled_access_log_drops_and_counts_lines_and_never_blocks(pipe: Pipe) -> None:
    dropped = Counter("ddmgw_access_log_dropped_total", "")
    pump = LogPump()
    writer = pump.add(pipe.target, name="access", capacity=10, drop_when_full=True, full=dropped)
    for record in _records(2000):                  # ~450 KB into an unread 64 KiB pipe: returns
        writer.write(record)
    assert dropped.values[()] > 0
    pipe.drain()
    pump.close()
    written = _ids(pipe.close())
    assert len(written) + dropped.values[()] == 2000
    assert written == sorted(written, key=lambda rid: int(rid[1:]))      # in order, no duplicate


def test_a_stalled_audit_log_drops_nothing_the_loop_writes_it_itself(pipe: Pipe) -> None:
    """With its queue full an audit record waits for the disk (here: the reader) instead of being
    dropped; the producer runs on its own thread, since it must block until the pipe is read."""
    sync_writes = Counter("ddmgw_audit_log_sync_writes_total", "")
    pump = LogPump()
    writer = pump.add(pipe.target, name="audit", capacity=10, drop_when_full=False, full=sync_writes)
    producer = threading.Thread(target=lambda: [writer.write(r) for r in _records(2000)])
    producer.start()
    _wait(lambda: sync_writes.values.get((), 0) > 0, "the full audit queue should make the producer write")
    assert producer.is_alive(), "the producer must be waiting for the pipe, not dropping records"
    pipe.drain()
    producer.join(timeout=30)
    pump.close()
    assert _ids(pipe.close()) == [f"r{i}" for i in range(2000)]


def test_a_stalled_access_log_does_not_hold_up_the_audit_log(pipe: Pipe, tmp_path: Path) -> None:
    """Both logs share one writer thread; while it waits on the unread access pipe, the audit
    records beyond the audit queue's bound are written by the caller, in order."""
    pump = LogPump()
    access = pump.add(pipe.target, name="access", capacity=10, drop_when_full=True, full=Counter("d", ""))
    sync_writes = Counter("s", "")
    audit = pump.add(FileTarget(tmp_path / "audit.log"), name="audit", capacity=10, drop_when_full=False,
                     full=sync_writes)
    for record in _records(2000):
        access.write(record)
        audit.write(record)
    written = _ids((tmp_path / "audit.log").read_text())
    assert len(written) >= 2000 - 10 and written == [f"r{i}" for i in range(len(written))]
    assert sync_writes.values[()] > 0
    pipe.drain()
    pump.close()
    assert _ids((tmp_path / "audit.log").read_text()) == [f"r{i}" for i in range(2000)]
    assert pipe.close()


def test_reopen_after_a_rename_puts_older_lines_in_the_old_file_and_newer_in_the_new(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    pump = LogPump()
    writer = pump.add(FileTarget(path), name="audit", drop_when_full=False, full=Counter("s", ""))
    reopened: list[BaseException | None] = []
    for record in _records(300):
        writer.write(record)
    path.rename(tmp_path / "audit.log.1")
    writer.reopen(reopened.append)
    for record in _records(300, 300):
        writer.write(record)
    pump.close()
    assert reopened == [None]
    assert _ids((tmp_path / "audit.log.1").read_text()) == [f"r{i}" for i in range(300)]
    assert _ids(path.read_text()) == [f"r{i}" for i in range(300, 600)]
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)


def test_two_reopens_queued_in_one_batch_keep_the_lines_in_order(tmp_path: Path) -> None:
    """Nothing is written until close, so both reopen marks reach the writer in one batch: each
    callback runs once, in order, and every line is written once, in order, around them."""
    path = tmp_path / "access.log"
    pump = LogPump(interval_s=3600)
    writer = pump.add(FileTarget(path), name="access", drop_when_full=True, full=Counter("d", ""))
    reopened: list[str] = []
    for generation in (1, 2):
        for record in _records(3, (generation - 1) * 3):
            writer.write(record)
        writer.reopen(lambda err, g=generation: reopened.append(f"{g}:{err}"))
    writer.write(_records(1, 6)[0])
    pump.close()
    assert reopened == ["1:None", "2:None"]
    assert _ids(path.read_text()) == [f"r{i}" for i in range(7)]


def test_a_failed_reopen_keeps_writing_to_the_old_file(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    path = directory / "access.log"
    pump = LogPump()
    writer = pump.add(FileTarget(path), name="access", drop_when_full=True, full=Counter("d", ""))
    writer.write(_records(1)[0])
    moved = tmp_path / "moved"
    directory.rename(moved)
    (tmp_path / "logs").write_text("a file where the directory was")   # the open must fail
    reopened: list[BaseException | None] = []
    writer.reopen(reopened.append)
    writer.write(_records(1, 1)[0])
    pump.close()
    assert len(reopened) == 1 and isinstance(reopened[0], OSError)
    assert _ids((moved / "access.log").read_text()) == ["r0", "r1"]


def test_the_thread_writes_every_interval_without_being_woken(tmp_path: Path) -> None:
    """Nothing on the loop hands lines over: the thread comes for them on its own."""
    path = tmp_path / "access.log"
    pump = LogPump(interval_s=0.05)
    writer = pump.add(FileTarget(path), name="access", drop_when_full=True, full=Counter("d", ""))
    for record in _records(3):
        writer.write(record)
    _wait(lambda: path.exists() and len(path.read_text().splitlines()) == 3, "the interval's batch")
    pump.close()
    assert _ids(path.read_text()) == ["r0", "r1", "r2"]


def test_a_half_full_queue_wakes_the_thread_before_its_interval(tmp_path: Path) -> None:
    """With an interval far longer than the wait, only the half-full wake-up can write the lines."""
    path = tmp_path / "access.log"
    pump = LogPump(interval_s=3600)
    writer = pump.add(FileTarget(path), name="access", capacity=10, drop_when_full=True, full=Counter("d", ""))
    for record in _records(4):
        writer.write(record)
    time.sleep(0.05)
    assert not path.read_text(), "below half full, the lines wait for the interval"
    writer.write(_records(1, 4)[0])
    writer.write(_records(1, 5)[0])
    _wait(lambda: len(path.read_text().splitlines()) >= 5, "half full should wake the writer")
    pump.close()
    assert _ids(path.read_text()) == [f"r{i}" for i in range(6)]


def test_logging_flush_interval_is_checked_with_its_path(tmp_path: Path) -> None:
    data = config_data(state_dir=str(tmp_path))
    data["logging"].pop("flush_interval_s", None)
    assert parse_config(data).logging.flush_interval_s == 0.1
    data["logging"]["flush_interval_s"] = 0.5
    assert parse_config(data).logging.flush_interval_s == 0.5
    for bad in (0, -1, "soon", 11):
        data["logging"]["flush_interval_s"] = bad
        with pytest.raises(ConfigError) as err:
            parse_config(data)
        assert [p for p in err.value.problems if p.startswith("logging.flush_interval_s: ")], err.value.problems


def test_logging_queue_lines_is_checked_with_its_path(tmp_path: Path) -> None:
    data = config_data(state_dir=str(tmp_path))
    assert parse_config(data).logging.queue_lines == 10_000
    data["logging"]["queue_lines"] = 250
    assert parse_config(data).logging.queue_lines == 250
    for bad in (0, "many", 10**9):
        data["logging"]["queue_lines"] = bad
        with pytest.raises(ConfigError) as err:
            parse_config(data)
        assert [p for p in err.value.problems if p.startswith("logging.queue_lines: ")], err.value.problems


# ---- the line formats: what the fast templates write is what the general encoder would --------

TEXT = st.text(max_size=40)
OPTIONAL = st.none() | TEXT


@st.composite
def principals(draw: st.DrawFn) -> Principal | None:
    if draw(st.booleans()):
        return None
    return Principal(domain_id="d" * 32, domain_name=draw(TEXT), user_id=draw(TEXT), user_name=draw(TEXT),
                     groups=(), domain_owner=False, auth_method=draw(TEXT), source_ip="127.0.0.1",
                     project_id=draw(OPTIONAL), access_key=draw(OPTIONAL))


def _principal_dict(principal: Principal | None) -> dict[str, object]:
    if principal is None:
        return {}
    return {"user_id": principal.user_id, "user_name": principal.user_name, "domain": principal.domain_name,
            "auth_method": principal.auth_method, "access_key": principal.access_key,
            "project_id": principal.project_id}


def _one_ascii_line(line: str) -> dict[str, object]:
    assert line.isascii() and len(line.splitlines()) == 1 and "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


@settings(max_examples=100, deadline=None)
@given(request_id=TEXT, source_ip=OPTIONAL, method=TEXT, path=TEXT, principal=principals(), action=TEXT,
       decision=OPTIONAL, enterprise_project=OPTIONAL | st.lists(TEXT, max_size=3), ratelimit=OPTIONAL,
       would_reject=st.lists(TEXT, max_size=3).map(tuple), upstream=st.none() | st.integers(100, 599),
       status=st.integers(100, 599), size=st.none() | st.integers(0, 2**40), micros=st.integers(0, 10**9))
def test_the_access_line_is_the_record_as_json(request_id: str, source_ip: str | None, method: str, path: str,
                                               principal: Principal | None, action: str, decision: str | None,
                                               enterprise_project: str | list[str] | None,
                                               ratelimit: str | None, would_reject: tuple[str, ...],
                                               upstream: int | None, status: int,
                                               size: int | None, micros: int) -> None:
    line = LineFormat().access(request_id, source_ip, method, path, principal, action, decision,
                               enterprise_project, ratelimit, would_reject, upstream, status, size,
                               (micros + 0.5) / 1e6)
    record = _one_ascii_line(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(record.pop("time")))
    assert record.pop("latency_ms") == micros / 1000
    assert list(record.items()) == list({
        "request_id": request_id, "source_ip": source_ip, "method": method, "path": path,
        **_principal_dict(principal), "action": action, "decision": decision,
        "enterprise_project": enterprise_project, "ratelimit": ratelimit,
        "ratelimit_would_reject": list(would_reject) or None,
        "upstream_status": upstream, "status": status, "bytes": size}.items())


@settings(max_examples=100, deadline=None)
@given(request_id=TEXT, principal=principals(), action=TEXT, resource=OPTIONAL, enterprise_project=OPTIONAL,
       allowed=st.booleans(),
       effect=TEXT, denied=st.lists(TEXT, max_size=3),
       deciding=st.lists(st.tuples(TEXT, st.integers(0, 99)), max_size=3))
def test_the_audit_line_is_the_record_as_json(request_id: str, principal: Principal | None, action: str,
                                              resource: str | None, enterprise_project: str | None,
                                              allowed: bool, effect: str, denied: list[str],
                                              deciding: list[tuple[str, int]]) -> None:
    line = LineFormat().audit(request_id, principal, action, resource, enterprise_project, allowed, effect,
                              denied, deciding)
    record = _one_ascii_line(line)
    assert line == ENCODER.encode({      # exactly what the general encoder writes
        "time": record["time"], "request_id": request_id, **_principal_dict(principal), "action": action,
        "resource": resource, "enterprise_project": enterprise_project,
        "decision": "allow" if allowed else "deny", "effect": effect,
        "denied_actions": denied, "deciding": [{"policy": p, "statement": i} for p, i in deciding]})


ACCESS_ARGS = st.tuples(TEXT, OPTIONAL, st.sampled_from(["GET", "POST"]), st.sampled_from(["/v1/p/instances", "/v2/x"]),
                        principals(), st.sampled_from(["ddm:instance:list", "ddm:instance:get"]),
                        st.sampled_from([None, "allow", "deny"]), st.none() | st.lists(TEXT, max_size=2),
                        st.sampled_from([None, "allowed"]), st.just(()), st.sampled_from([None, 200]),
                        st.sampled_from([200, 403]), st.none() | st.integers(0, 10**6), st.just(0.0012))
AUDIT_ARGS = st.tuples(TEXT, principals(), st.sampled_from(["ddm:instance:list", "ddm:instance:get"]), OPTIONAL,
                       st.sampled_from([None, "ep-a"]), st.booleans(), st.sampled_from(["allow", "deny"]),
                       st.lists(st.sampled_from(["ddm:instance:list"]), max_size=1),
                       st.lists(st.tuples(st.sampled_from(["p1", "p2"]), st.integers(0, 2)), max_size=2))


def _without_time(line: str) -> dict[str, object]:
    record = _one_ascii_line(line)
    record.pop("time")
    return record


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(ACCESS_ARGS, AUDIT_ARGS, st.booleans()), min_size=1, max_size=12))
def test_a_long_lived_line_format_writes_what_a_fresh_one_does(requests: list[tuple[tuple, tuple, bool]]) -> None:
    """The caches (fragments, principals, the last request id) never change a line: one
    LineFormat over a run of requests that repeat values writes what a new one per line would."""
    shared = LineFormat()
    for access, audit, same_id in requests:
        if same_id:                                   # the audit and access lines of one request
            audit = (access[0], *audit[1:])
        assert _without_time(shared.audit(*audit)) == _without_time(LineFormat().audit(*audit))
        assert _without_time(shared.access(*access)) == _without_time(LineFormat().access(*access))


def test_the_fragment_caches_stay_bounded_by_count_and_by_size() -> None:
    """Unauthenticated clients choose the path: many distinct ones make a cache start over, and
    a long one is formatted every time but never kept."""
    lines = LineFormat()
    for i in range(FRAGMENTS_CACHED + 10):
        lines.access("r", "127.0.0.1", "GET", f"/v1/p{i}", None, "-", None, None, None, (), None, 404, 0, 0.0)
    assert 0 < len(lines._access_middles) <= FRAGMENTS_CACHED
    lines._access_middles.clear()
    long_path = "/v1/" + "\u00e9" * FRAGMENT_CACHED_CHARS
    line = lines.access("r", "127.0.0.1", "GET", long_path, None, "-", None, None, None, (), None, 404, 0, 0.0)
    assert json.loads(line)["path"] == long_path and not lines._access_middles


@settings(max_examples=50, deadline=None)
@given(request_id=TEXT, principal=principals(), rules=st.lists(TEXT, max_size=3))
def test_an_event_line_is_the_record_as_json(request_id: str, principal: Principal | None,
                                             rules: list[str]) -> None:
    fields: dict[str, object] = {"action": "ddm:instance:list", "event": "ratelimit_would_reject", "rules": rules}
    line = LineFormat().event(request_id, principal, fields)
    record = _one_ascii_line(line)
    assert line == ENCODER.encode({"time": record["time"], "request_id": request_id,
                                   **_principal_dict(principal), **fields})


@given(st.integers(0, 4_102_444_800_000))        # milliseconds, up to 2100
def test_the_timestamp_is_utc_with_milliseconds(millis: int) -> None:
    lines = LineFormat()
    expected = datetime.fromtimestamp(millis // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert lines.now_iso((millis + 0.1) / 1000) == f"{expected}.{millis % 1000:03d}Z"


def test_a_counter_counts_a_label_tuple_as_inc_does() -> None:
    by_count, by_inc = Counter("c", "", ("action", "status")), Counter("i", "", ("action", "status"))
    for labels in [("ddm:instance:list", "200"), ("ddm:instance:list", "200"), ("-", "404")]:
        by_count.count(labels)
        by_inc.inc(*labels)
    assert by_count.values == by_inc.values == {("ddm:instance:list", "200"): 2.0, ("-", "404"): 1.0}
    assert list(by_count.render()) == ['c{action="-",status="404"} 1', 'c{action="ddm:instance:list",status="200"} 2']
