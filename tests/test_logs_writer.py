"""The log writer (gateway/observability/writer.py) over real files and real pipes.

A pipe nobody reads is a stalled disk: once its 64 KiB buffer is full the writer thread waits,
and what the queue does then is the behaviour under test. No timing asserts: the tests wait for
states (bounded), never for durations.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from gateway.config import ConfigError, parse_config
from gateway.observability.metrics import Counter
from gateway.observability.writer import FileTarget, LogWriter, StreamTarget

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


def test_lines_of_one_loop_tick_are_written_in_order_and_close_writes_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    writer = LogWriter(FileTarget(path), name="access", drop_when_full=True, full=Counter("d", ""))

    async def traffic() -> None:
        for chunk in range(5):
            for record in _records(100, chunk * 100):
                writer.write(record)
            await asyncio.sleep(0)                 # end of a loop tick: the batch is handed over
    asyncio.run(traffic())
    writer.close()
    assert _ids(path.read_text()) == [f"r{i}" for i in range(500)]


def test_a_stalled_access_log_drops_and_counts_lines_and_never_blocks(pipe: Pipe) -> None:
    dropped = Counter("ddmgw_access_log_dropped_total", "")
    writer = LogWriter(pipe.target, name="access", capacity=10, drop_when_full=True, full=dropped)
    for record in _records(2000):                  # ~450 KB into an unread 64 KiB pipe: returns
        writer.write(record)
    assert dropped.values[()] > 0
    pipe.drain()
    writer.close()
    written = _ids(pipe.close())
    assert len(written) + dropped.values[()] == 2000
    assert written == sorted(written, key=lambda rid: int(rid[1:]))      # in order, no duplicate


def test_a_stalled_audit_log_drops_nothing_the_loop_writes_it_itself(pipe: Pipe) -> None:
    """With its queue full an audit record waits for the disk (here: the reader) instead of being
    dropped; the producer runs on its own thread, since it must block until the pipe is read."""
    sync_writes = Counter("ddmgw_audit_log_sync_writes_total", "")
    writer = LogWriter(pipe.target, name="audit", capacity=10, drop_when_full=False, full=sync_writes)
    producer = threading.Thread(target=lambda: [writer.write(r) for r in _records(2000)])
    producer.start()
    _wait(lambda: sync_writes.values.get((), 0) > 0, "the full audit queue should make the producer write")
    assert producer.is_alive(), "the producer must be waiting for the pipe, not dropping records"
    pipe.drain()
    producer.join(timeout=30)
    writer.close()
    assert _ids(pipe.close()) == [f"r{i}" for i in range(2000)]


def test_reopen_after_a_rename_puts_older_lines_in_the_old_file_and_newer_in_the_new(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    writer = LogWriter(FileTarget(path), name="audit", drop_when_full=False, full=Counter("s", ""))
    reopened: list[BaseException | None] = []
    for record in _records(300):
        writer.write(record)
    path.rename(tmp_path / "audit.log.1")
    writer.reopen(reopened.append)
    for record in _records(300, 300):
        writer.write(record)
    writer.close()
    assert reopened == [None]
    assert _ids((tmp_path / "audit.log.1").read_text()) == [f"r{i}" for i in range(300)]
    assert _ids(path.read_text()) == [f"r{i}" for i in range(300, 600)]
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)


def test_a_failed_reopen_keeps_writing_to_the_old_file(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    path = directory / "access.log"
    writer = LogWriter(FileTarget(path), name="access", drop_when_full=True, full=Counter("d", ""))
    writer.write(_records(1)[0])
    moved = tmp_path / "moved"
    directory.rename(moved)
    (tmp_path / "logs").write_text("a file where the directory was")   # the open must fail
    reopened: list[BaseException | None] = []
    writer.reopen(reopened.append)
    writer.write(_records(1, 1)[0])
    writer.close()
    assert len(reopened) == 1 and isinstance(reopened[0], OSError)
    assert _ids((moved / "access.log").read_text()) == ["r0", "r1"]


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
